// Package dialect is the contract between the state backend and a
// database: what a GORM dialector tells statebackend.Open about its
// database beyond what GORM knows (column types, pool, which errors are
// worth a retry, group commit, locks, planner hints, replication).
//
// This module's database packages (statebackend/sqlite,
// statebackend/postgres, statebackend/mysql) implement it, and so can a
// dialector of yours, for a database those packages do not cover: wrap
// the GORM dialector in a type with a Dialect method. The package imports
// neither the backend nor any driver, so a database package depends on
// this contract only.
package dialect

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Database is a gorm.Dialector that also tells statebackend.Open how to
// use its database well. The dialectors of this module's database packages
// (statebackend/sqlite, statebackend/postgres, statebackend/mysql)
// implement it; so can a dialector of yours, for a database those packages
// do not cover.
//
// Why an interface on the dialector rather than a registry: Open keeps
// accepting any gorm.Dialector, a program links only the drivers of the
// database packages it imports, and nothing is registered in init or held
// in global state. A dialector that does not implement Database gets
// conservative settings (see Dialect).
type Database interface {
	gorm.Dialector
	// Dialect returns the settings statebackend.Open applies to this
	// database.
	Dialect() Dialect
}

// LoggingDatabase is a Database whose driver logs on its own (the MySQL
// driver does, to stderr by default). statebackend.Open calls WithLogger
// with the logger given by statebackend.WithLogger (one that discards,
// without it) and opens the Database it returns, so that nothing the driver says bypasses the
// backend's logger, and two backends may log to two loggers.
type LoggingDatabase interface {
	Database
	// WithLogger returns the database with its driver logging to l; the
	// receiver is left as it was.
	WithLogger(l *slog.Logger) Database
}

// ReadOnlyDatabase is a Database that can be opened read-only below the
// backend, by its driver, so that reading needs no permission to write and
// changes nothing: the SQLite dialector opens the file read-only (see
// sqlite.ReadOnly). WithReadOnly makes Open, and NewMigrator, use the
// Database that ReadOnly returns; the backend refuses writes either way.
type ReadOnlyDatabase interface {
	Database
	// ReadOnly returns the database opened read-only; the receiver is left
	// as it was.
	ReadOnly() Database
}

// Dialect is what the backend knows about one database beyond what GORM
// knows. The zero value of every field is a safe default.
//
// A plain gorm.Dialector (one that does not implement Database) gets the
// Name of the dialector, identifiers of at most 63 bytes, GORM's own column
// types, a pool of 16 connections, no retries, no group commit and no
// cross-process lock.
type Dialect struct {
	// Name names the database in logs and telemetry, as OpenTelemetry's
	// db.system.name does: "sqlite", "postgresql", "mysql", "mariadb".
	Name string
	// Namespace names the database within its server, as OpenTelemetry's
	// db.namespace does: the database name on Postgres and MySQL, the file
	// on SQLite. Empty leaves it out of telemetry.
	Namespace string
	// MaxIdentifierLength bounds table and index names, in bytes; 0 means
	// no limit. Long app ids are shortened to fit (see WithAppID).
	MaxIdentifierLength int
	// Columns gives the DDL of each column kind; empty fields leave the
	// choice to the GORM dialector.
	Columns ColumnTypes
	// Pool is the default connection pool; statebackend.WithPool overrides
	// it field by
	// field.
	Pool Pool
	// PrepareStatements makes the backend prepare each of its statements
	// once per connection (the backend has a fixed, small set of them, so
	// the number of prepared statements is bounded). Leave it off where the
	// driver caches statements itself (pgx) or where server-side statements
	// are a scarce resource.
	PrepareStatements bool
	// PrepareRefused reports an error of preparing a statement that the
	// database refused for lack of room (MySQL's max_prepared_stmt_count
	// reached): the backend then runs that statement as text, unprepared,
	// instead of failing the call, and tries preparing it again on the
	// next call. Nil: no error is such a refusal.
	PrepareRefused func(err error) bool
	// SingleWriter says the database takes one writer at a time (SQLite):
	// the backend then funnels a process's writes through one committer,
	// which commits writes that arrive together in one transaction (group
	// commit) instead of letting them wait on each other's locks.
	SingleWriter bool
	// CostlyCancel says the driver pays for a cancellable context on every
	// statement (go-sqlite3 runs each statement in a goroutine of its own
	// to watch the context, and database/sql each query's rows): the
	// backend then runs the statements of calls that touch a few rows by
	// key with their context's values but not its cancellation, checking
	// the context before and between attempts instead (see
	// op.Op.Keyed). Only for embedded databases, whose such statements
	// cannot wait on the network; a lock wait is bounded by the
	// database's own busy timeout.
	CostlyCancel bool
	// Transient classifies errors worth retrying (lock contention,
	// deadlocks, serialization failures): it returns a short reason such as
	// "deadlock" or "serialization", and "" for any other error. Nil
	// retries nothing. The reason TransientBusy is special: such errors are
	// retried until the call's context ends (see TransientBusy); other
	// reasons a few times, with backoff.
	Transient func(err error) string
	// Repair, when set, runs before each retry of work that failed with a
	// transient error, with the error's reason (see Transient), for causes
	// that waiting alone does not clear. It gets the store's handle, whose
	// statements reach the server the work ran on, and the names of the
	// app's tables that carry triggers (its data tables). The MySQL
	// dialect uses it on MariaDB, whose table cache can keep a table whose
	// triggers failed to load until the table is flushed. An error it
	// returns is logged and the retry goes ahead.
	Repair func(ctx context.Context, db *gorm.DB, reason string, tables []string) error
	// ReadOnly says the database was opened read-only: Open creates no
	// schema, and write calls fail at once with state.ErrReadOnly without
	// reaching the database.
	ReadOnly bool
	// ReadOnlyError reports errors that mean the database refuses writes
	// (SQLite's SQLITE_READONLY, a read-only file system, a Postgres hot
	// standby, MySQL's read_only): the backend returns them wrapping
	// state.ErrReadOnly. Nil reports none.
	ReadOnlyError func(err error) bool
	// Hints shape queries for the database's planner.
	Hints QueryHints
	// PartialIndexes says the database builds an index over the rows a
	// WHERE clause selects (CREATE INDEX ... WHERE: SQLite, Postgres).
	// Migrations then index only the rows queries look for: history's
	// status_time index holds the final records only.
	PartialIndexes bool
	// Lock runs fn while holding the exclusive lock called name: no two
	// calls with the same name run fn at once, across every process and
	// connection using the database. fn receives the handle to work
	// through (a transaction, when the lock is one), and the lock is
	// released when fn returns, or when the connection holding it dies
	// with its process. Lock waits for the lock until ctx ends. Migrations
	// run under it, so that processes opening an old database at once
	// migrate it once.
	//
	// Nil runs fn without a cross-process lock: processes that open an old
	// database at the same moment may then migrate it side by side. Every
	// migration step checks whether it is already done, so the latecomer
	// usually finds the work done, but two processes creating the same
	// index at the same instant can still make one of them fail its Open.
	// Give your own Database a Lock, or migrate before starting processes
	// (see migrations.Migrator).
	Lock func(ctx context.Context, db *gorm.DB, name string, fn func(db *gorm.DB) error) error
	// TryLock takes the lock called name if no session holds it, without
	// waiting: ok is false when another one does. The lock is held until
	// release is called, or until the process dies (its connection
	// closes). The background pruner runs only while it holds the lock, so
	// that one process at a time prunes a database.
	//
	// Nil uses a lease: a row of the app's leases table naming the holder
	// and an expiry, renewed while held and taken over once expired. A
	// lease needs the processes' clocks to agree to within its renewal
	// margin (a minute), and a killed holder blocks the others until its
	// lease expires.
	TryLock func(ctx context.Context, db *gorm.DB, name string) (release func(), ok bool, err error)
	// Replication reads replication positions, which reading from replicas
	// needs (see statebackend.WithReadReplicas); the zero value refuses
	// replicas.
	Replication Replication
	// Commits says how the database's transactions commit relative to the
	// ids they take from a sequence, which the change feed needs (see
	// state.Watcher); the zero value refuses watches.
	Commits Commits
	// Listen, when not nil, subscribes to a notification channel, which
	// Notify signals after writes (Postgres: LISTEN/NOTIFY): a following
	// watch then reads at once instead of at its next poll. Nil: watches
	// poll.
	Listen func(ctx context.Context, db *sql.DB, channel string) (Listener, error)
	// Notify, when not nil, signals a notification channel: the backend
	// calls it after writes, from one goroutine, never more than one call
	// at a time however many writes commit meanwhile (a signal only wakes
	// watches, which then read). Nil: no signals.
	Notify func(ctx context.Context, db *gorm.DB, channel string) error
}

// ColumnTypes gives the DDL type of each column kind of the schema. Key may
// contain one %d, replaced by the column's size in bytes. An empty field
// leaves the type to the GORM dialector.
type ColumnTypes struct {
	// Key is a sized identifier, compared and sorted byte for byte.
	Key string
	// Text is unbounded UTF-8 text (JSON documents, serialized arguments).
	Text string
	// Blob is an opaque payload of at least 64 MiB.
	Blob string
	// Serial is an auto-assigned, increasing integer primary key; when set it
	// must include the primary key clause.
	Serial string
}

// QueryHints are query shapes a database's planner needs. Each holds SQL
// that every supported database accepts; only its effect on plans differs.
type QueryHints struct {
	// UnindexedHistoryTimestamp is an expression equal to history_timestamp
	// that the planner cannot serve from an index, for SQLite
	// "+history_timestamp". The invocation-id pages of a time range filter on
	// it, so that SQLite walks the (invocation id, timestamp) index from the
	// cursor in id order instead of reading the whole range through the time
	// index and sorting it for every page. Empty filters on the column and
	// leaves the choice to the planner, which is right for Postgres and MySQL.
	UnindexedHistoryTimestamp string
}

// MaxStatements bounds the statements one backend compiles, and so the
// statements it prepares on each connection of its pool when
// Dialect.PrepareStatements is set: a database that counts prepared
// statements against a server-wide limit can size its pool with it.
const MaxStatements = 64

// TransientBusy is the reason Dialect.Transient gives for a lock another
// connection holds, which the database refused to wait for any longer
// (SQLite's SQLITE_BUSY once its short busy timeout has passed). The
// backend retries such errors until the call's context ends, or for a
// minute when the context has no deadline, rather than a fixed number of
// times: waiting for the lock is the whole point, and only the context
// knows how long the caller can wait.
const TransientBusy = "busy"

// Pool sets the connection pool of the underlying *sql.DB. Zero fields keep
// the database's default (see Dialect.Pool).
type Pool struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
}

// With returns p with the non-zero fields of q instead of its own.
func (p Pool) With(q Pool) Pool {
	if q.MaxOpenConns > 0 {
		p.MaxOpenConns = q.MaxOpenConns
	}
	if q.MaxIdleConns > 0 {
		p.MaxIdleConns = q.MaxIdleConns
	}
	if q.ConnMaxLifetime > 0 {
		p.ConnMaxLifetime = q.ConnMaxLifetime
	}
	if q.ConnMaxIdleTime > 0 {
		p.ConnMaxIdleTime = q.ConnMaxIdleTime
	}
	return p
}

// Apply sets the non-zero fields of p on db.
func (p Pool) Apply(db *sql.DB) {
	if p.MaxOpenConns > 0 {
		db.SetMaxOpenConns(p.MaxOpenConns)
	}
	if p.MaxIdleConns > 0 {
		db.SetMaxIdleConns(p.MaxIdleConns)
	}
	if p.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(p.ConnMaxLifetime)
	}
	if p.ConnMaxIdleTime > 0 {
		db.SetConnMaxIdleTime(p.ConnMaxIdleTime)
	}
}

// Replication reads replication positions: what a database declares (in
// Dialect.Replication) to let statebackend.Open serve reads from its read
// replicas. A position is an int64 that grows with every transaction committed on the
// primary (for Postgres, the byte offset in the write-ahead log).
type Replication struct {
	// PrimaryPosition returns the current position of db, the primary: at
	// least the position of every transaction that committed before the
	// call.
	PrimaryPosition func(ctx context.Context, db *sql.DB) (int64, error)
	// ReplicaPosition returns the position db, a replica, has replayed up
	// to: every transaction committed at or before it is visible to its
	// queries. It fails when db is not a replica (a promoted one, say).
	ReplicaPosition func(ctx context.Context, db *sql.DB) (int64, error)
}

// Commits describes how transactions that take ids from a sequence (an
// auto-increment column) commit. Where several transactions write at once
// they commit in any order, so a reader that sees ids 5 and 7 cannot tell
// whether 6 is still to commit or never will (its transaction rolled back):
// the change feed then waits until every transaction in flight when it saw
// the gap has ended, and reads again.
type Commits struct {
	// InIDOrder says a transaction's ids are never visible before the
	// smaller ids of any transaction that commits: the database writes one
	// transaction at a time (SQLite). InFlight and Ended are then unused.
	InIDOrder bool
	// InFlight returns the transactions in flight on the database now, in
	// a form Ended understands: every transaction that took an id before
	// the call, and has not ended, is among them.
	InFlight func(ctx context.Context, db *gorm.DB) (InFlight, error)
	// Ended reports whether every transaction of f has ended (committed or
	// rolled back).
	Ended func(ctx context.Context, db *gorm.DB, f InFlight) (bool, error)
	// Check, when not nil, fails for a server where InFlight cannot see
	// every transaction that takes ids (a Galera node does not list the
	// other nodes' transactions); a watch calls it first.
	Check func(ctx context.Context, db *gorm.DB) error
}

// InFlight names the transactions in flight at one moment: those with a
// transaction id below Below, an id at least as great as any assigned
// before (Postgres: txid_current(); MySQL: InnoDB's transaction id
// counter).
type InFlight struct {
	Below int64
}

// Listener receives the notifications of one channel on a connection of
// its own.
type Listener interface {
	// Wait returns when a notification arrives (nil), when ctx ends (its
	// error), or when the connection fails (an error: the listener is then
	// unusable, and the caller polls or listens again).
	Wait(ctx context.Context) error
	// Close ends the subscription and releases the connection.
	Close() error
}

// Watchable reports whether the feed can follow the database's commits.
func (c Commits) Watchable() bool { return c.InIDOrder || (c.InFlight != nil && c.Ended != nil) }

// Of returns the settings the backend uses for d: its own when it
// implements Database, conservative defaults otherwise (see Dialect), with
// the gaps filled: a Name, a Pool, a Transient that retries nothing and a
// Lock that locks nothing.
func Of(d gorm.Dialector) Dialect {
	var dl Dialect
	if db, ok := d.(Database); ok {
		dl = db.Dialect()
	} else {
		dl.MaxIdentifierLength = 63
	}
	if dl.Name == "" {
		dl.Name = d.Name()
	}
	if dl.Pool == (Pool{}) {
		dl.Pool = Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: time.Hour}
	}
	if dl.Transient == nil {
		dl.Transient = func(error) string { return "" }
	}
	if dl.Lock == nil {
		dl.Lock = func(ctx context.Context, db *gorm.DB, _ string, fn func(*gorm.DB) error) error {
			return fn(db.WithContext(ctx))
		}
	}
	return dl
}
