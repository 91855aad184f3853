package repository

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"

	"gorm.io/gorm"
)

// The hot operations (one history record, one invocation, one result) run
// statements that GORM builds once per backend and that are then executed
// with new arguments: GORM still writes every statement (quoting,
// placeholders, the dialect's upsert syntax), but building a statement and
// scanning rows by reflection would otherwise cost more than the database
// does on a local SQLite file.

// arg marks, while a statement is built, where the i-th run-time argument
// goes.
type arg int

// Value implements driver.Valuer, so GORM binds an arg like any value.
func (a arg) Value() (driver.Value, error) { return int64(a), nil }

// compiled is a statement built by GORM, with its bind variables: arg
// markers for run-time arguments and constants (such as a LIMIT) as built.
type compiled struct {
	sql  string
	vars []any
}

// statements caches compiled statements by name.
type statements struct {
	m sync.Map // string -> *compiled
}

// compile returns the statement named key, building it with build on a
// dry-run session of db the first time.
func (r Repo) compile(db *gorm.DB, key string, build func(tx *gorm.DB) *gorm.DB) (*compiled, error) {
	if c, ok := r.stmts.m.Load(key); ok {
		return c.(*compiled), nil
	}
	tx := build(db.Session(&gorm.Session{DryRun: true, NewDB: true}))
	if tx.Error != nil {
		return nil, fmt.Errorf("build statement %s: %w", key, tx.Error)
	}
	c := &compiled{sql: tx.Statement.SQL.String(), vars: slices.Clone(tx.Statement.Vars)}
	r.stmts.m.Store(key, c)
	return c, nil
}

// bind returns the statement's bind variables with the arguments in place
// of their markers.
func (c *compiled) bind(args []any) []any {
	out := make([]any, len(c.vars))
	for i, v := range c.vars {
		if a, ok := v.(arg); ok {
			out[i] = args[a]
		} else {
			out[i] = v
		}
	}
	return out
}

// exec runs the statement on db's connection (or transaction).
func (c *compiled) exec(db *gorm.DB, args ...any) (sql.Result, error) {
	return db.Statement.ConnPool.ExecContext(db.Statement.Context, c.sql, c.bind(args)...)
}

// query runs the statement on db's connection (or transaction).
func (c *compiled) query(db *gorm.DB, args ...any) (*sql.Rows, error) {
	return db.Statement.ConnPool.QueryContext(db.Statement.Context, c.sql, c.bind(args)...)
}

// markers returns n consecutive arg markers starting at from.
func markers(from, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = arg(from + i)
	}
	return out
}

// chunkSizes are the statement sizes multi-row writes are split into, so a
// backend compiles a handful of statements instead of one per batch length.
var chunkSizes = []int{500, 100, 20, 5, 1}

// fixedChunks splits n rows into consecutive [lo, hi) ranges whose lengths
// are in chunkSizes and at most limit.
func fixedChunks(n, limit int) [][2]int {
	var out [][2]int
	lo := 0
	for _, size := range chunkSizes {
		if size > limit {
			continue
		}
		for ; n-lo >= size; lo += size {
			out = append(out, [2]int{lo, lo + size})
		}
	}
	return out
}
