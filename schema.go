package statebackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/migrations"
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
	// ErrSchemaOutdated reports, under WithoutAutoMigrate, a database whose
	// schema is older than the library's: run `statebackend migrate`.
	ErrSchemaOutdated = errors.New("schema is older than this library")
)

// Migration is one version of the schema: the change from the previous
// version.
type Migration struct {
	// Version is the schema version the migration produces, from 1 (the
	// schema of v0.1.0).
	Version int
	// Name is short and snake_case ("retention"); with the version it
	// forms the id recorded in the database ("0002_retention").
	Name string
	// Description says what changes and why.
	Description string
	// MinCompatible is the oldest schema version a library must know to
	// use a database at this version. A version that only adds keeps its
	// predecessor's, so libraries that know the older version keep
	// working on the migrated database.
	MinCompatible int
}

// ID returns the id the migrations table records: the version in four
// digits, an underscore and the name ("0002_retention").
func (m Migration) ID() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// Migrations returns every migration this library knows, in version order;
// the last one's Version is the library's schema version.
func Migrations() []Migration {
	all := migrations.All()
	out := make([]Migration, len(all))
	for i, m := range all {
		out[i] = publicMigration(m)
	}
	return out
}

// LatestSchemaVersion returns the version of the schema this library
// writes: the version of its newest migration.
func LatestSchemaVersion() int { return len(migrations.All()) }

func publicMigration(m migrations.Migration) Migration {
	return Migration{Version: m.Version, Name: m.Name, Description: m.Description, MinCompatible: m.MinCompatible}
}

// AppliedMigration is a migration recorded in a database's migrations
// table.
type AppliedMigration struct {
	// Migration is the migration; a migration newer than this library
	// has only its Version, Name and MinCompatible.
	Migration
	// AppliedAt is when it was recorded; zero for version 1 of a database
	// that v0.1.0 created and a migration recorded it.
	AppliedAt time.Time
}

// SchemaStatus describes the schema of one app's tables in a database.
type SchemaStatus struct {
	// Version is the database's schema version; 0 when the app has no
	// tables yet.
	Version int
	// Recorded reports whether Version comes from the app's migrations
	// table. It is false for a database that v0.1.0 created, recognized as
	// version 1 from its tables (Migrate records it), and for an empty
	// one.
	Recorded bool
	// Latest is the schema version of this library (LatestSchemaVersion).
	Latest int
	// MinCompatible is the oldest schema version a library must know to
	// use the database: the largest MinCompatible among its migrations.
	MinCompatible int
	// Applied lists the recorded migrations, in version order.
	Applied []AppliedMigration
	// Pending lists the migrations a migration to Latest would apply, in
	// version order; empty when the database is current or newer.
	Pending []Migration
}

// Usable reports whether this library can use the database as it is: its
// schema is recorded at the library's version, or is newer and declares
// itself compatible with it.
func (s SchemaStatus) Usable() bool {
	if s.Version > s.Latest {
		return s.MinCompatible <= s.Latest
	}
	return s.Recorded && s.Version == s.Latest
}

// MigrateOptions says how far Migrator.Migrate goes.
type MigrateOptions struct {
	// To is the version to migrate to; 0 means the library's latest.
	To int
	// DryRun reports what Migrate would apply and changes nothing.
	DryRun bool
}

// MigrateResult is what Migrator.Migrate did (or, for a dry run, would
// do).
type MigrateResult struct {
	// From and To are the schema versions before and after.
	From, To int
	// RecordVersion1 reports that the database was created by v0.1.0 and
	// version 1 is recorded without changing any table.
	RecordVersion1 bool
	// Applied lists the migrations applied, in version order.
	Applied []Migration
}

// Migrator reads and migrates the schema of one app's tables, for
// operators and tools (the statebackend command's migrate and schema).
// Open migrates on its own unless WithoutAutoMigrate is given; a Migrator
// lets the migration run as a separate step, before new processes start.
// It is safe for concurrent use; Close it when done.
type Migrator struct {
	s     *schemaManager
	close func() error
}

// NewMigrator opens the database d for the app chosen by the options
// (WithAppID, WithLogger, WithPool, WithReadOnly; the others are ignored).
// It reads and changes nothing until a method is called. With WithReadOnly
// the database is opened as Open opens it with that option: Status and a
// dry run of Migrate work, and Migrate fails with ErrReadOnly when it has
// something to do.
func NewMigrator(d gorm.Dialector, opts ...Option) (*Migrator, error) {
	o := newOptions(opts)
	c, err := connect(d, o)
	if err != nil {
		return nil, err
	}
	return &Migrator{s: c.schema(o.logger, "Migrate"), close: c.sqlDB.Close}, nil
}

// Status reads the schema version and what migrating to the latest version
// would apply. It changes nothing. It fails with ErrSchemaMismatch when
// the tables or the migrations table match no known version; a database
// newer than the library is not an error here (see SchemaStatus.Usable).
func (m *Migrator) Status(ctx context.Context) (SchemaStatus, error) {
	st, err := m.s.inspect(m.s.db.WithContext(ctx))
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("statebackend: schema status: %w", err)
	}
	return m.s.status(st), nil
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
func (m *Migrator) Migrate(ctx context.Context, opts MigrateOptions) (MigrateResult, error) {
	res, err := m.s.migrate(ctx, opts.To, opts.DryRun)
	if err != nil {
		return res, fmt.Errorf("statebackend: migrate: %w", err)
	}
	return res, nil
}

// Close closes the database.
func (m *Migrator) Close() error {
	if err := m.close(); err != nil {
		return fmt.Errorf("statebackend: close migrator: %w", err)
	}
	return nil
}

// schemaManager reads and migrates the schema of one app's tables.
type schemaManager struct {
	db      *gorm.DB // with the dialect's column types set
	tables  entities.Tables
	dialect Dialect
	appID   string
	log     *slog.Logger
}
