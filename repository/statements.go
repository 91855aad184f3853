package repository

import (
	"github.com/taskstate/statebackend/dialect"

	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// stmtKey names a compiled statement: an operation's statement and, for
// those that come in several sizes, the size (one of chunkSizes).
type stmtKey struct {
	name string
	size int
}

// MaxStatements bounds the statements one Repo compiles (and prepares per
// connection): every named statement in every size it can take. The
// driver contract promises it to databases (dialect.MaxStatements).
const MaxStatements = dialect.MaxStatements

// compiled is a statement built by GORM, with its bind variables: arg
// markers for run-time arguments and constants as built.
type compiled struct {
	name string
	sql  string
	vars []any
	// stmt is the statement prepared on the pool db, nil when not
	// preparing. It serves only db and its transactions: a query routed to
	// another pool (a read replica) runs the SQL text there.
	stmt *sql.Stmt
	db   *sql.DB
	// observe is the Repo's Config.Observe.
	observe Observer
	// refused is the Repo's Config.PrepareRefused.
	refused func(error) bool
}

// statements caches the compiled statements of a Repo.
type statements struct {
	mu sync.Mutex
	m  map[stmtKey]*compiled
}

// arg marks, while a statement is built, where the i-th run-time argument
// goes.
type arg int

// Value implements driver.Valuer, so GORM binds an arg like any value.
func (a arg) Value() (driver.Value, error) { return int64(a), nil }

// markers returns n consecutive arg markers starting at from.
func markers(from, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = arg(from + i)
	}
	return out
}

// limitArg is a LIMIT clause whose row count is a run-time argument, so
// one statement serves every batch size. It is not GORM's LIMIT clause,
// which the SQLite dialector writes as a literal number.
type limitArg arg

// limitClause names limitArg among a statement's clauses.
const limitClause = "statebackend:limit"

// Name implements clause.Interface.
func (l limitArg) Name() string { return limitClause }

// Build implements clause.Expression.
func (l limitArg) Build(b clause.Builder) {
	b.WriteString("LIMIT ")
	b.AddVar(b, arg(l))
}

// MergeClause implements clause.Interface; Build writes the keyword.
func (l limitArg) MergeClause(c *clause.Clause) {
	c.Name = ""
	c.Expression = l
}

// limited ends the query q with a LIMIT whose count is run-time argument i.
func limited(q *gorm.DB, i int) *gorm.DB {
	q = q.Clauses(limitArg(i))
	q.Statement.BuildClauses = []string{"SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", limitClause}
	return q
}

// statement returns the statement key, building it with build on a dry-run
// session of db the first time (and preparing it when r prepares).
func (r Repo) statement(db *gorm.DB, key stmtKey, build func(tx *gorm.DB) *gorm.DB) (*compiled, error) {
	s := r.stmts
	s.mu.Lock()
	c, ok := s.m[key]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	tx := build(db.Session(&gorm.Session{DryRun: true, NewDB: true}))
	if tx.Error != nil {
		return nil, fmt.Errorf("build statement %s/%d: %w", key.name, key.size, tx.Error)
	}
	c = &compiled{name: key.name, sql: tx.Statement.SQL.String(), vars: slices.Clone(tx.Statement.Vars), observe: r.cfg.Observe, refused: r.cfg.PrepareRefused}
	if r.cfg.Prepare {
		stmt, err := r.cfg.DB.PrepareContext(db.Statement.Context, c.sql)
		if err != nil {
			if c.isRefused(err) {
				// Run as text this time; not cached, so that a later
				// call prepares it once the server has room.
				return c, nil
			}
			return nil, err
		}
		c.stmt, c.db = stmt, r.cfg.DB
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.m[key]; ok { // built concurrently: keep the first
		if c.stmt != nil {
			_ = c.stmt.Close()
		}
		return prev, nil
	}
	if len(s.m) >= MaxStatements {
		// A programming error: a new statement name or size was added
		// without raising the bound.
		if c.stmt != nil {
			_ = c.stmt.Close()
		}
		return nil, fmt.Errorf("statement %s/%d: more than %d statements", key.name, key.size, MaxStatements)
	}
	s.m[key] = c
	return c, nil
}

// close closes the prepared statements.
func (s *statements) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.m {
		if c.stmt != nil {
			_ = c.stmt.Close()
		}
	}
	clear(s.m)
}

// bind returns the statement's bind variables with the arguments in place
// of their markers.
func (c *compiled) bind(args []any) []any {
	return c.bindTo(make([]any, len(c.vars)), args)
}

// bindTo is bind into out, of len(c.vars).
func (c *compiled) bindTo(out, args []any) []any {
	for i, v := range c.vars {
		if a, ok := v.(arg); ok {
			out[i] = args[a]
		} else {
			out[i] = v
		}
	}
	return out
}

// exec runs the statement on db's connection or transaction.
func (c *compiled) exec(db *gorm.DB, args ...any) (sql.Result, error) {
	ctx, done := c.begin(db.Statement.Context, false)
	res, err := c.execIn(ctx, db, args)
	if done != nil {
		var n int64
		if err == nil {
			n, _ = res.RowsAffected()
		}
		done(n, err)
	}
	return res, err
}

// boundArgs holds the arguments of the writes of many rows while they
// run (see upsertRows and execIn): the database driver converts them
// before it returns, and a write of a hundred rows binds a thousand.
var boundArgs = sync.Pool{New: func() any { return new([]any) }}

// pooledBindMin is the number of bind variables from which a write binds
// into a pooled slice.
const pooledBindMin = 64

func (c *compiled) execIn(ctx context.Context, db *gorm.DB, args []any) (sql.Result, error) {
	if len(c.vars) < pooledBindMin {
		return c.execBound(ctx, db, c.bind(args))
	}
	p := boundArgs.Get().(*[]any)
	bound := c.bindTo(slices.Grow((*p)[:0], len(c.vars))[:len(c.vars)], args)
	res, err := c.execBound(ctx, db, bound)
	clear(bound) // hold no arguments in the pool
	*p = bound[:0]
	boundArgs.Put(p)
	return res, err
}

// execBound runs the statement with its bound variables.
func (c *compiled) execBound(ctx context.Context, db *gorm.DB, bound []any) (sql.Result, error) {
	var (
		res sql.Result
		err error
	)
	switch pool := db.Statement.ConnPool.(type) {
	case *sql.DB:
		if c.stmt != nil && pool == c.db {
			res, err = c.stmt.ExecContext(ctx, bound...)
			if !c.isRefused(err) {
				return res, err
			}
		}
	case *sql.Tx:
		if c.stmt != nil {
			res, err = pool.StmtContext(ctx, c.stmt).ExecContext(ctx, bound...)
			if !c.isRefused(err) {
				return res, err
			}
		}
	}
	// Not prepared, or the connection could not prepare it (a refusal
	// comes before the statement runs, so running it now is its only run).
	return db.Statement.ConnPool.ExecContext(ctx, c.sql, bound...)
}

// isRefused reports whether err is the database refusing to prepare the
// statement for lack of room (see Config.PrepareRefused).
func (c *compiled) isRefused(err error) bool {
	return err != nil && c.refused != nil && c.refused(err)
}

// query runs the statement on db's connection or transaction.
func (c *compiled) query(ctx context.Context, db *gorm.DB, args []any) (*sql.Rows, error) {
	var (
		rows *sql.Rows
		err  error
	)
	switch pool := db.Statement.ConnPool.(type) {
	case *sql.DB:
		if c.stmt != nil && pool == c.db {
			rows, err = c.stmt.QueryContext(ctx, c.bind(args)...)
			if !c.isRefused(err) {
				return rows, err
			}
		}
	case *sql.Tx:
		if c.stmt != nil {
			rows, err = pool.StmtContext(ctx, c.stmt).QueryContext(ctx, c.bind(args)...)
			if !c.isRefused(err) {
				return rows, err
			}
		}
	}
	return db.Statement.ConnPool.QueryContext(ctx, c.sql, c.bind(args)...)
}

// each runs the query and calls scan on every row.
func (c *compiled) each(db *gorm.DB, scan func(*sql.Rows) error, args ...any) error {
	ctx, done := c.begin(db.Statement.Context, true)
	n, err := c.eachIn(ctx, db, scan, args)
	if done != nil {
		done(n, err)
	}
	return err
}

func (c *compiled) eachIn(ctx context.Context, db *gorm.DB, scan func(*sql.Rows) error, args []any) (n int64, err error) {
	rows, err := c.query(ctx, db, args)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// first runs the query and scans its first row, if there is one, with
// scan: for statements that select a row by its key. It closes the rows
// after that row instead of stepping past it to their end, which spares a
// call into the driver (on SQLite, a step of the statement).
func (c *compiled) first(db *gorm.DB, scan func(*sql.Rows) error, args ...any) (found bool, err error) {
	ctx, done := c.begin(db.Statement.Context, true)
	rows, err := c.query(ctx, db, args)
	if err == nil {
		if rows.Next() {
			found = true
			err = scan(rows)
		}
		if err == nil {
			err = rows.Err()
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}
	if done != nil {
		var n int64
		if found {
			n = 1
		}
		done(n, err)
	}
	return found, err
}

// begin tells the Repo's Observer, if any, that the statement starts.
func (c *compiled) begin(ctx context.Context, query bool) (context.Context, func(int64, error)) {
	if c.observe == nil {
		return ctx, nil
	}
	return c.observe(ctx, Statement{Name: c.name, SQL: c.sql, Query: query})
}

// chunkSizes are the sizes statements with a variable number of rows or
// values come in, largest first.
var chunkSizes = []int{500, 100, 20, 5, 1}

// rowsPerStatement returns how many rows of cols columns fit in one
// statement: the largest chunk size under the parameter limit.
func rowsPerStatement(cols int) int {
	for _, size := range chunkSizes {
		if size*cols <= maxParams {
			return size
		}
	}
	return 1
}

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

// paddedChunks splits values into lists whose lengths are in chunkSizes,
// padding the last with repeats of its last value: for IN lists, where a
// repeat changes nothing.
func paddedChunks(values []string) [][]string {
	var out [][]string
	for len(values) > chunkSizes[0] {
		out = append(out, values[:chunkSizes[0]])
		values = values[chunkSizes[0]:]
	}
	if len(values) == 0 {
		return out
	}
	size := chunkSizes[0]
	for _, s := range chunkSizes {
		if s >= len(values) {
			size = s
		}
	}
	last := slices.Clone(values)
	for len(last) < size {
		last = append(last, values[len(values)-1])
	}
	return append(out, last)
}

// anys converts values to bind arguments.
func anys(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}
