// Package engine runs the store's database work: every read and write
// goes through it, under the caller's context, with transient errors
// retried (package retry), failures wrapped as the store returns them, the
// writes of a single-writer database funnelled through the group committer
// (package groupcommit), and the store's closed state honoured.
//
// It owns the primary's *gorm.DB and the closed flag. The store hands it
// functions of a *gorm.DB (a statement of package repository, usually) and
// the operation they belong to (package op), which names them in errors,
// logs and telemetry.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/groupcommit"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retry"
	"github.com/taskstate/statebackend/internal/telemetry"
	"github.com/taskstate/statebackend/state"
)

// Func is a piece of database work: statements run on db. A write's Func
// must be safe to run again: it is, when a shared transaction fails.
type Func = groupcommit.Func

// Config is what an Engine works with.
type Config struct {
	// DB is the primary's handle.
	DB      *gorm.DB
	Dialect dialect.Dialect
	// Log gets retries and failed commit groups; its records carry the
	// operation.
	Log *slog.Logger
	// Telemetry counts attempts and retries; nil records nothing.
	Telemetry *telemetry.Telemetry
	// InsertHistory inserts history rows, for the group committer's
	// merged inserts (see groupcommit.Config).
	InsertHistory func(tx *gorm.DB, rows []entities.History) error
	// Wrote, when set, is called after every write returns, committed or
	// not (the read replicas' write clock).
	Wrote func()
	// Tables are the names of the app's tables that carry triggers (its
	// data tables), for the dialect's Repair.
	Tables []string
}

// Engine runs the database work of one store. It is safe for concurrent
// use.
type Engine struct {
	db        *gorm.DB
	dialect   dialect.Dialect
	log       *slog.Logger
	tel       *telemetry.Telemetry
	wrote     func()
	tables    []string
	committer *groupcommit.Committer
	closed    atomic.Bool
	// sessions holds sessions of db (db.WithContext) for Run to reuse with
	// another context: making one copies the whole GORM statement, a
	// tenth of a point read's time. A session is not changed by what runs
	// on it: GORM's chainable methods work on copies of it.
	sessions sync.Pool
}

// New returns the engine of cfg. A database that takes a single writer
// (Dialect.SingleWriter) and is not read-only gets a group committer.
func New(cfg Config) *Engine {
	e := &Engine{db: cfg.DB, dialect: cfg.Dialect, log: cfg.Log, tel: cfg.Telemetry, wrote: cfg.Wrote, tables: cfg.Tables}
	if e.wrote == nil {
		e.wrote = func() {}
	}
	if cfg.Dialect.SingleWriter && !cfg.Dialect.ReadOnly {
		e.committer = groupcommit.New(groupcommit.Config{
			DB: cfg.DB, Runner: runner{e}, InsertHistory: cfg.InsertHistory,
			Telemetry: cfg.Telemetry, Log: cfg.Log,
		})
	}
	return e
}

// DB returns the primary's handle.
func (e *Engine) DB() *gorm.DB { return e.db }

// Committer returns the group committer, nil when writes do not go
// through one.
func (e *Engine) Committer() *groupcommit.Committer { return e.committer }

// Closed reports whether Close was called.
func (e *Engine) Closed() bool { return e.closed.Load() }

// Check fails fast on a closed store or a done context.
func (e *Engine) Check(ctx context.Context) error {
	if e.closed.Load() {
		return fmt.Errorf("statebackend: %w", state.ErrClosed)
	}
	return ctx.Err()
}

// Read runs fn, a read of o, retrying transient errors.
func (e *Engine) Read(ctx context.Context, o op.Op, fn Func) error {
	if err := e.Check(ctx); err != nil {
		return err
	}
	return e.Run(ctx, o, e.tel.Counted(ctx, fn))
}

// Write runs fn, a write of o, through the group committer where there is
// one, retrying transient errors.
func (e *Engine) Write(ctx context.Context, o op.Op, fn Func) error {
	return e.WriteHistory(ctx, o, fn, nil)
}

// WriteHistory is Write for a write that inserts the history rows rows,
// and nothing else, with fn: the group committer may insert them together
// with other writes' rows.
func (e *Engine) WriteHistory(ctx context.Context, o op.Op, fn Func, rows []entities.History) error {
	if err := e.Check(ctx); err != nil {
		return err
	}
	if e.dialect.ReadOnly {
		return fmt.Errorf("statebackend: %s: %w", o, state.ErrReadOnly)
	}
	if o == op.AddHistory && len(rows) > 1 && e.dialect.CostlyCancel {
		// Keyed for one record (see op.Op.Keyed): a batch keeps its
		// context's cancellation.
		fn = withContext(ctx, fn)
	}
	fn = e.tel.Counted(ctx, fn)
	defer e.wrote()
	if e.committer != nil {
		return e.committer.Do(ctx, o, fn, rows)
	}
	return e.Run(ctx, o, fn)
}

// Run runs fn on the primary under ctx, retrying transient errors (see
// package retry), without the group committer. It returns within ctx's
// deadline, give or take one attempt's uninterruptible part (SQLite's
// busy timeout).
//
// The statements of a keyed operation (op.Op.Keyed) on a database whose
// driver pays for cancellation (dialect.Dialect.CostlyCancel) run with
// ctx's values but not its cancellation: ctx is still looked at before
// every attempt and while waiting to retry, and the group committer
// honours it while a write waits for its turn; what it no longer
// interrupts is one statement of a few rows, which can run at most the
// database's busy timeout (its wait for a lock) past the deadline.
func (e *Engine) Run(ctx context.Context, o op.Op, fn Func) error {
	dctx := ctx
	if e.dialect.CostlyCancel && o.Keyed() {
		dctx = context.WithoutCancel(ctx)
	}
	db := e.session(dctx)
	defer e.release(db)
	var p retry.Policy // from the first failure on: a clock read spared
	for attempt := 1; ; attempt++ {
		err := fn(db)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || e.closed.Load() {
			return e.Fail(ctx, o, err)
		}
		if attempt == 1 {
			p = retry.New()
		}
		reason := e.dialect.Transient(err)
		_, deadline := ctx.Deadline()
		pause, ok := p.Next(reason, deadline)
		if !ok {
			return e.Fail(ctx, o, err)
		}
		e.Retrying(ctx, o, attempt, reason, err)
		e.repair(ctx, o, reason)
		if !retry.Sleep(ctx, pause) {
			return e.Fail(ctx, o, err)
		}
	}
}

// session returns a session of the primary's handle under ctx.
func (e *Engine) session(ctx context.Context) *gorm.DB {
	if db, ok := e.sessions.Get().(*gorm.DB); ok {
		db.Statement.Context = ctx
		return db
	}
	return e.db.WithContext(ctx)
}

// release hands back a session of session's once its work is done.
func (e *Engine) release(db *gorm.DB) {
	if db.Error != nil {
		return // not as it was made
	}
	db.Statement.Context = context.Background() // hold on to no call's context
	e.sessions.Put(db)
}

// Fail wraps err, the reason work of o failed, for the caller:
// "statebackend: <o>: ...", with the store's sentinels where they apply
// and the context's error first when the context ended.
func (e *Engine) Fail(ctx context.Context, o op.Op, err error) error {
	if e.closed.Load() {
		return fmt.Errorf("statebackend: %s: %w", o, state.ErrClosed)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		// The database's error (a lock another process holds, a
		// connection cut short) stays in the chain for errors.As.
		return fmt.Errorf("statebackend: %s: %w (%w)", o, ctxErr, err)
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("statebackend: %s: %w", o, state.ErrClosed)
	}
	if e.dialect.ReadOnlyError != nil && e.dialect.ReadOnlyError(err) {
		return fmt.Errorf("statebackend: %s: %w: %w", o, state.ErrReadOnly, err)
	}
	return fmt.Errorf("statebackend: %s: %w", o, err)
}

// Retrying reports that work of o failed on a transient error and runs
// again: a log record, the retries counter, and an event on the call's
// span.
func (e *Engine) Retrying(ctx context.Context, o op.Op, attempt int, reason string, err error) {
	// Waiting for another process's lock is routine on SQLite: Debug, not
	// Warn, or the log would fill under ordinary contention.
	level := slog.LevelWarn
	if reason == dialect.TransientBusy {
		level = slog.LevelDebug
	}
	e.log.Log(ctx, level, "retrying after transient error", "operation", o.String(), "attempt", attempt, "reason", reason, "err", err)
	e.tel.Retried(ctx, o, attempt, reason)
}

// repair runs the dialect's Repair, if any, before work of o that failed
// for reason is retried; its failure is logged, and the retry goes ahead.
func (e *Engine) repair(ctx context.Context, o op.Op, reason string) {
	if e.dialect.Repair == nil {
		return
	}
	if err := e.dialect.Repair(ctx, e.db, reason, e.tables); err != nil {
		e.log.WarnContext(ctx, "repair before retrying failed", "operation", o.String(), "reason", reason, "err", err)
	}
}

// Close marks the engine closed, so that new work fails with ErrClosed,
// and waits for the writes in flight to settle (queued ones fail with
// ErrClosed). It reports whether this call closed it: false when it was
// closed already.
func (e *Engine) Close() bool {
	if e.closed.Swap(true) {
		return false
	}
	if e.committer != nil {
		e.committer.Wait()
	}
	return true
}

// withContext runs fn with its statements under ctx.
func withContext(ctx context.Context, fn Func) Func {
	return func(db *gorm.DB) error { return fn(db.WithContext(ctx)) }
}

// runner is the Engine as the group committer sees it.
type runner struct{ e *Engine }

func (r runner) Run(ctx context.Context, o op.Op, fn Func) error    { return r.e.Run(ctx, o, fn) }
func (r runner) Fail(ctx context.Context, o op.Op, err error) error { return r.e.Fail(ctx, o, err) }
func (r runner) Closed() bool                                       { return r.e.closed.Load() }
func (r runner) Transient(err error) string                         { return r.e.dialect.Transient(err) }
func (r runner) Retrying(ctx context.Context, o op.Op, attempt int, reason string, err error) {
	r.e.Retrying(ctx, o, attempt, reason, err)
	r.e.repair(ctx, o, reason)
}
