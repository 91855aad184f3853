// Package repository implements every state-backend operation once, on
// *gorm.DB and the models of package entities. It names no dialect and holds
// no SQL that only one database understands: the differences between SQLite,
// Postgres and MySQL are settled by the GORM dialector and by the column
// types the statebackend package configures.
//
// Callers validate input before calling; the repository trusts its
// arguments, applies the batching, ordering and deduplication rules, and
// returns database errors unwrapped.
package repository

import (
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Repo runs the operations on the tables of one app.
type Repo struct {
	Tables entities.Tables
	stmts  *statements
}

// New returns the repository of the app whose tables are t.
func New(t entities.Tables) Repo {
	return Repo{Tables: t, stmts: &statements{}}
}

// maxParams bounds the bind parameters of one statement, under every
// supported database's limit (SQLite 32766, Postgres and MySQL 65535).
const maxParams = 30000

// maxRowsPerStatement bounds multi-row statements further: past a few
// hundred rows a bigger statement costs more to build than it saves.
const maxRowsPerStatement = 500

// rowsPerStatement returns how many rows of cols columns fit in one statement.
func rowsPerStatement(cols int) int {
	return min(maxParams/cols, maxRowsPerStatement)
}

// chunks splits n items into consecutive [lo, hi) ranges of at most size.
func chunks(n, size int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += size {
		out = append(out, [2]int{lo, min(lo+size, n)})
	}
	return out
}

// inTx runs fn in a transaction of db, or directly when rows fit in one
// statement (a single statement is atomic on its own).
func inTx(db *gorm.DB, statements int, fn func(tx *gorm.DB) error) error {
	if statements <= 1 {
		return fn(db)
	}
	return db.Transaction(fn)
}
