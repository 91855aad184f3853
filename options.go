package statebackend

import (
	"database/sql"
	"io"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Option configures Open.
type Option func(*options)

type options struct {
	appID         string
	logger        *slog.Logger
	noAutoMigrate bool
	readOnly      bool
	pool          Pool
	poolSet       bool
	retention     Retention
	telemetry     telemetryOptions

	replicas        []gorm.Dialector
	replicaSettings ReplicaSettings
}

// newOptions applies opts to the defaults.
func newOptions(opts []Option) options {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Pool sets the connection pool of the underlying *sql.DB. Zero fields keep
// the database's default (see Dialect.Pool).
type Pool struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
}

// WithAppID isolates the backend's data under appID, as pynenc does when
// several apps share one database: every table name is prefixed with
// "<sanitized app id>_<first 8 hex of sha256(app id)>__". Without it the
// tables have the names of pynenc's SQLite state backend ("state_backend_results", ...). Backends with
// different app ids never see each other's data, and Purge of one leaves the
// others intact.
func WithAppID(appID string) Option { return func(o *options) { o.appID = appID } }

// WithLogger sets the logger for migrations, retried writes and other
// events, and for the database driver's own messages where the dialector
// routes them (see LoggingDatabase). The default discards them. Every
// record of the backend carries "operation" (the method, "Open" or "group
// commit"), "app_id" and "database" (the database's system name, as
// Dialect.Name); connection strings and payloads are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutAutoMigrate makes Open leave the schema alone: it reads the
// schema version and changes nothing, not even to create a table. When the
// database is at the library's version (or at a newer one that declares
// itself compatible) Open proceeds; when it is older, or the app has no
// tables yet, Open fails with ErrSchemaOutdated, naming the command that
// migrates it (`statebackend migrate`, or Migrator.Migrate). For fleets
// that migrate as a deployment step before rolling out new processes.
//
// By default Open migrates the schema to the library's version (see
// Migrator.Migrate).
func WithoutAutoMigrate() Option { return func(o *options) { o.noAutoMigrate = true } }

// WithPool overrides the connection pool settings. With a pool of one
// connection (MaxOpenConns 1), the backend does not prepare statements
// (Dialect.PrepareStatements): preparing takes a connection of its own.
func WithPool(p Pool) Option { return func(o *options) { o.pool, o.poolSet = p, true } }

// applyPool sets the non-zero fields of p on db.
func applyPool(db *sql.DB, p Pool) {
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

// WithReadOnly opens the database for reading only, as a dashboard, an
// inspection tool or a read-only database user needs: every write call
// fails at once with ErrReadOnly, and Open creates, migrates and locks
// nothing. It accepts a schema at any version this library knows, older
// ones included (every version has the columns reads use), a newer one
// that declares itself compatible, and an app without tables (so that
// DiscoverAppInfos works on any database; reading that app's data then
// fails with the database's error).
//
// A database whose dialector implements ReadOnlyDatabase is also opened
// read-only by its driver. On SQLite that is sqlite.ReadOnly: the file is
// opened read-only, so a file the process may not write (a 0444 file,
// another user's, one on a read-only mount) can be read, and no byte of
// it changes; sqlite.ReadOnly says what happens to the -wal and -shm files
// of a database in WAL mode. On Postgres and MySQL the session is left as
// it is: the backend refuses writes before they reach the server; a
// database user without write privileges makes the server refuse them too
// (those refusals also wrap ErrReadOnly).
func WithReadOnly() Option { return func(o *options) { o.readOnly = true } }
