package statebackend

import (
	"database/sql"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Option configures Open.
type Option func(*options)

type options struct {
	appID          string
	logger         *slog.Logger
	skipMigrations bool
	pool           Pool
	poolSet        bool

	replicas        []gorm.Dialector
	replicaSettings ReplicaSettings
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
// events. The default discards them. Connection strings are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutMigrations skips schema creation at Open, for operators who create
// the tables themselves. By default Open creates missing tables and indexes
// (and never alters existing ones).
func WithoutMigrations() Option { return func(o *options) { o.skipMigrations = true } }

// WithPool overrides the connection pool settings.
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
