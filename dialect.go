package statebackend

import (
	"context"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Database is a gorm.Dialector that also tells Open how to use its
// database well. The dialectors of this module's database packages
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
	// Dialect returns the settings Open applies to this database.
	Dialect() Dialect
}

// LoggingDatabase is a Database whose driver logs on its own (the MySQL
// driver does, to stderr by default). Open calls WithLogger with the
// logger given by WithLogger (one that discards, without it) and opens the
// Database it returns, so that nothing the driver says bypasses the
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
	// Pool is the default connection pool; WithPool overrides it field by
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
	// Transient classifies errors worth retrying (lock contention,
	// deadlocks, serialization failures): it returns a short reason such as
	// "deadlock" or "serialization", and "" for any other error. Nil
	// retries nothing. The reason TransientBusy is special: such errors are
	// retried until the call's context ends (see TransientBusy); other
	// reasons a few times, with backoff.
	Transient func(err error) string
	// ReadOnly says the database was opened read-only: Open creates no
	// schema, and write calls fail at once with ErrReadOnly without
	// reaching the database.
	ReadOnly bool
	// ReadOnlyError reports errors that mean the database refuses writes
	// (SQLite's SQLITE_READONLY, a read-only file system, a Postgres hot
	// standby, MySQL's read_only): the backend returns them wrapping
	// ErrReadOnly. Nil reports none.
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
	// (see Migrator).
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
	// needs (see WithReadReplicas); the zero value refuses replicas.
	Replication Replication
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

// dialectOf returns the settings for d: its own when it implements
// Database, conservative defaults otherwise, with the gaps filled.
func dialectOf(d gorm.Dialector) Dialect {
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

func (c ColumnTypes) entities() entities.ColumnTypes {
	return entities.ColumnTypes{Key: c.Key, Text: c.Text, Blob: c.Blob, Serial: c.Serial}
}
