// Package repository implements every state-backend operation once, on
// *gorm.DB and the models of package entities. It names no database and
// holds no SQL that only one database understands: the differences between
// databases are settled by the GORM dialector, by the column types and
// query hints the statebackend package passes in, and nowhere else.
//
// Callers validate input before calling; the repository trusts its
// arguments, applies the batching, ordering and deduplication rules, and
// returns database errors unwrapped. Rows go in and come out as entities,
// every field filled.
//
// # Statements
//
// Every statement of an operation on the app's own tables is compiled once
// per Repo: GORM builds it in a dry run the first time it is needed
// (quoting, placeholders, the database's upsert syntax) and later calls run
// it with new arguments, prepared once per connection where Config.Prepare
// says so. Statements whose shape would depend on the input come in fixed
// sizes (multi-row writes are split into chunks of the sizes in chunkSizes,
// IN lists are padded up to one of them) and LIMITs are arguments, so a Repo
// holds at most MaxStatements statements whatever its callers do.
// Maintenance, which is rare and reads or writes many tables at once (Purge,
// discovering other apps' tables, schema changes), is built by GORM's chain
// API per call.
package repository

import (
	"database/sql"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Repo runs the operations on the tables of one app. It is safe for
// concurrent use.
type Repo struct {
	Tables entities.Tables
	cfg    Config
	stmts  *statements
}

// Config adapts a Repo to its database.
type Config struct {
	// Prepare makes the Repo prepare each statement once on DB and reuse it
	// (per connection, as database/sql does).
	Prepare bool
	// DB is the pool statements are prepared on; needed when Prepare is set.
	DB *sql.DB
	// PrepareRefused reports a refusal to prepare a statement for lack of
	// room on the server: the statement then runs as text (see
	// dialect.Dialect.PrepareRefused). Nil: never.
	PrepareRefused func(err error) bool
	// UnindexedHistoryTimestamp is an expression equal to history_timestamp
	// that the planner cannot serve from an index; the invocation-id pages of
	// a time range filter on it. Empty means the column itself.
	UnindexedHistoryTimestamp string
	// Observe, when set, is told of every compiled statement the Repo runs.
	Observe Observer
	// FinalPredicate is the WHERE clause, on history_status, that selects
	// the final records: the predicate of the partial index retention
	// reads, repeated in its query so that planners use that index. Empty
	// means no such clause.
	FinalPredicate string
}

// New returns the repository of the app whose tables are t.
func New(t entities.Tables, cfg Config) Repo {
	if cfg.UnindexedHistoryTimestamp == "" {
		cfg.UnindexedHistoryTimestamp = "history_timestamp"
	}
	if cfg.DB == nil {
		cfg.Prepare = false
	}
	return Repo{Tables: t, cfg: cfg, stmts: &statements{m: map[stmtKey]*compiled{}}}
}

// Close releases the prepared statements. The Repo must not be used
// afterwards.
func (r Repo) Close() {
	r.stmts.close()
}

// Statements returns how many statements the Repo has compiled so far; it
// never exceeds MaxStatements.
func (r Repo) Statements() int {
	r.stmts.mu.Lock()
	defer r.stmts.mu.Unlock()
	return len(r.stmts.m)
}

// maxParams bounds the bind parameters of one statement, under every
// supported database's limit (SQLite 32766, Postgres and MySQL 65535).
const maxParams = 30000

// inTx runs fn in a transaction of db, or directly when it runs a single
// statement (atomic on its own).
func inTx(db *gorm.DB, statements int, fn func(tx *gorm.DB) error) error {
	if statements <= 1 {
		return fn(db)
	}
	return db.Transaction(fn)
}
