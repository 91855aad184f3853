package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// Schema errors; test for them with errors.Is. A call that fails with one
// of them has changed nothing.
var (
	// ErrSchemaMismatch reports tables, or a migrations table, that match
	// no schema version this library knows: tables that are not those of
	// version 1 (v0.1.0) in a database without a migrations table, or
	// recorded migrations that differ from the library's. The message
	// names every difference found.
	ErrSchemaMismatch = errors.New("schema does not match any known version")
	// ErrSchemaNewer reports a database migrated by a newer library, whose
	// schema this library cannot use: upgrade the library.
	ErrSchemaNewer = errors.New("schema is newer than this library")
	// ErrSchemaOutdated reports a database whose schema is older than the
	// library's where nothing may migrate it (statebackend.Open with
	// WithoutAutoMigrate, Migrator.Check): run `statebackend migrate`.
	ErrSchemaOutdated = errors.New("schema is older than this library")
)

// Latest returns the version of the schema this library writes: the
// version of its newest migration.
func Latest() int { return len(All()) }

// Applied is a migration recorded in a database's migrations table.
type Applied struct {
	// Migration is the migration; a migration newer than this library
	// has only its Version, Name and MinCompatible.
	Migration
	// AppliedAt is when it was recorded; zero for version 1 of a database
	// that v0.1.0 created and a migration recorded it.
	AppliedAt time.Time
}

// Status describes the schema of one app's tables in a database.
type Status struct {
	// Version is the database's schema version; 0 when the app has no
	// tables yet.
	Version int
	// Recorded reports whether Version comes from the app's migrations
	// table. It is false for a database that v0.1.0 created, recognized as
	// version 1 from its tables (Migrate records it), and for an empty
	// one.
	Recorded bool
	// Latest is the schema version of this library (see Latest).
	Latest int
	// MinCompatible is the oldest schema version a library must know to
	// use the database: the largest MinCompatible among its migrations.
	MinCompatible int
	// Applied lists the recorded migrations, in version order.
	Applied []Applied
	// Pending lists the migrations a migration to Latest would apply, in
	// version order; empty when the database is current or newer.
	Pending []Migration
}

// Usable reports whether this library can use the database as it is: its
// schema is recorded at the library's version, or is newer and declares
// itself compatible with it.
func (s Status) Usable() bool {
	if s.Version > s.Latest {
		return s.MinCompatible <= s.Latest
	}
	return s.Recorded && s.Version == s.Latest
}

// Options says how far Migrator.Migrate goes.
type Options struct {
	// To is the version to migrate to; 0 means the library's latest.
	To int
	// DryRun reports what Migrate would apply and changes nothing.
	DryRun bool
}

// Result is what Migrator.Migrate did (or, for a dry run, would do).
type Result struct {
	// From and To are the schema versions before and after.
	From, To int
	// RecordVersion1 reports that the database was created by v0.1.0 and
	// version 1 is recorded without changing any table.
	RecordVersion1 bool
	// Applied lists the migrations applied, in version order.
	Applied []Migration
}

// operation names the migrator's work in its log records.
const operation = "Migrate"

// Migrator reads and migrates the schema of one app's tables in a
// database, for operators and tools (the statebackend command's migrate
// and schema) and for statebackend.Open, which migrates on its own unless
// told not to (statebackend.WithoutAutoMigrate): a Migrator lets the
// migration run as a separate step, before new processes start. It is
// safe for concurrent use.
type Migrator struct {
	db      *gorm.DB // with the dialect's column types and naming set
	tables  entities.Tables
	dialect dialect.Dialect
	appID   string
	log     *slog.Logger
}

// Config says which app's schema a Migrator handles.
type Config struct {
	// AppID is the app whose tables are migrated ("" for the default app),
	// as given to statebackend.WithAppID.
	AppID string
	// Logger gets what the migrator does (migrations and steps applied,
	// retries); nil discards it. Its records carry "operation", "app_id"
	// and "database".
	Logger *slog.Logger
	// ReadOnly says db was opened read-only (for SQLite, on
	// sqlite.ReadOnly): Status and a dry run of Migrate work, and Migrate
	// fails with state.ErrReadOnly when it has something to do. A
	// dialector that reports itself read-only (dialect.Dialect.ReadOnly)
	// implies it.
	ReadOnly bool
}

// NewMigrator returns the migrator of cfg.AppID's schema in db, which
// stays the caller's to close: db is a GORM database on one of this
// module's database packages (sqlite.Open, postgres.Open, mysql.Open), or
// on any dialector (see dialect.Database). It reads and changes nothing
// until a method is called, and fails with ErrInvalidArgument for an
// invalid app id.
//
//	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
//	m, err := migrations.NewMigrator(db, migrations.Config{AppID: "orders"})
//	res, err := m.Migrate(ctx, migrations.Options{})
func NewMigrator(db *gorm.DB, cfg Config) (*Migrator, error) {
	if cfg.AppID != "" {
		if err := state.ValidateKey("app id", cfg.AppID); err != nil {
			return nil, err
		}
	}
	dl := dialect.Of(db.Dialector)
	dl.ReadOnly = dl.ReadOnly || cfg.ReadOnly
	tables, err := entities.NewTables(cfg.AppID, dl.MaxIdentifierLength)
	if err != nil {
		return nil, state.Invalid("app id", err.Error())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A session of its own: the naming strategy (index names) and column
	// types are the app's, whatever db was opened with.
	db = db.Session(&gorm.Session{})
	db.Config.NamingStrategy = tables.Namer(dl.MaxIdentifierLength)
	db = db.Set(entities.ColumnTypesSetting, entities.ColumnTypes{
		Key: dl.Columns.Key, Text: dl.Columns.Text, Blob: dl.Columns.Blob, Serial: dl.Columns.Serial,
	}).Set(PartialIndexesSetting, dl.PartialIndexes)
	return &Migrator{
		db: db, tables: tables, dialect: dl, appID: cfg.AppID,
		log: log.With("database", dl.Name, "app_id", cfg.AppID, "operation", operation),
	}, nil
}

// Status reads the schema version and what migrating to the latest version
// would apply. It changes nothing. It fails with ErrSchemaMismatch when
// the tables or the migrations table match no known version; a database
// newer than the library is not an error here (see SchemaStatus.Usable).
func (m *Migrator) Status(ctx context.Context) (Status, error) {
	st, err := m.inspect(m.db.WithContext(ctx))
	if err != nil {
		return Status{}, fmt.Errorf("statebackend: schema status: %w", err)
	}
	return m.status(st), nil
}

// Migrate migrates the schema to opts.To (the latest by default), applying
// each missing migration in order, each in one transaction where the
// database allows it, under the database's lock (see Dialect.Lock): of
// several processes migrating at once, one applies each migration and the
// others find it applied. With opts.DryRun it reports what it would apply
// and changes nothing.
//
// It fails, changing nothing, with ErrInvalidArgument for an unknown
// target or one below the current version (migrations go forward only),
// with ErrSchemaMismatch when the tables or the migrations table match no
// known version, and with ErrSchemaNewer for a database newer than the
// library. An error in the middle leaves the migrations before it applied
// and recorded.
func (m *Migrator) Migrate(ctx context.Context, opts Options) (Result, error) {
	res, err := m.migrate(ctx, opts.To, opts.DryRun)
	if err != nil {
		return res, fmt.Errorf("statebackend: migrate: %w", err)
	}
	return res, nil
}
