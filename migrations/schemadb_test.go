package migrations_test

import (
	"os"
	"path/filepath"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// TestMain removes the database containers the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = pgtest.Terminate()
	_ = mysqltest.Terminate()
	os.Exit(code)
}

// schemaDB is one database for the schema tests: a new SQLite file, or the
// shared Postgres or MySQL test database, where each test isolates itself
// with app ids of its own.
type schemaDB struct {
	kind schematest.Dialect
	// dialector returns a new dialector of the database.
	dialector func() gorm.Dialector
	// raw is a plain GORM handle for reading the catalog and writing
	// behind the backend's back.
	raw *gorm.DB
}

// schemaDatabases lists the databases the schema tests run on.
var schemaDatabases = []schematest.Dialect{schematest.SQLite, schematest.Postgres, schematest.MySQL}

// newSchemaDB provisions a database of kind: a new file for SQLite, the
// shared server (skipping t when there is none) otherwise.
func newSchemaDB(t *testing.T, kind schematest.Dialect) *schemaDB {
	t.Helper()
	db := &schemaDB{kind: kind}
	switch kind {
	case schematest.SQLite:
		path := filepath.Join(t.TempDir(), "schema.db")
		db.dialector = func() gorm.Dialector { return sqlite.Open(path) }
	case schematest.Postgres:
		dsn := pgtest.DSN(t)
		db.dialector = func() gorm.Dialector { return postgres.Open(dsn) }
	case schematest.MySQL:
		dsn := mysqltest.DSN(t)
		db.dialector = func() gorm.Dialector { return mysql.Open(dsn) }
	}
	raw, err := gorm.Open(db.dialector(), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open %s: %v", kind, err)
	}
	sqlDB, err := raw.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(2)
	t.Cleanup(func() { _ = sqlDB.Close() })
	db.raw = raw
	return db
}

// tables returns the table names of appID on the database.
func (db *schemaDB) tables(t *testing.T, appID string) entities.Tables {
	t.Helper()
	tables, err := entities.NewTables(appID, db.kind.MaxIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// createVersion1 creates the tables of appID as v0.1.0 did, and drops
// every table of the app when t ends.
func (db *schemaDB) createVersion1(t *testing.T, appID string, autoincrement bool) {
	t.Helper()
	db.dropAtEnd(t, appID)
	if err := schematest.CreateVersion1(db.raw, db.kind, appID, autoincrement); err != nil {
		t.Fatal(err)
	}
}

// dropAtEnd drops the tables of appID when t ends, on servers (a SQLite
// file goes with its directory).
func (db *schemaDB) dropAtEnd(t *testing.T, appID string) {
	t.Helper()
	if db.kind == schematest.SQLite {
		return
	}
	tables := db.tables(t, appID)
	t.Cleanup(func() {
		for _, name := range tables.Names() {
			_ = db.raw.Migrator().DropTable(name)
		}
	})
}

// open opens a backend for appID and closes it when t ends.
func (db *schemaDB) open(t *testing.T, appID string, opts ...statebackend.Option) (statebackend.Backend, error) {
	t.Helper()
	b, err := statebackend.Open(db.dialector(), append([]statebackend.Option{statebackend.WithAppID(appID)}, opts...)...)
	if err == nil {
		t.Cleanup(func() { _ = b.Close() })
	}
	return b, err
}

// migrator returns a Migrator for appID on a connection of its own, closed
// when t ends.
func (db *schemaDB) migrator(t *testing.T, appID string) *migrations.Migrator {
	t.Helper()
	return schematest.Migrator(t, db.dialector(), appID)
}

// describe describes the tables of appID (every table of the latest schema
// that exists, and those of version 1).
func (db *schemaDB) describe(t *testing.T, appID string, models ...string) string {
	t.Helper()
	if len(models) == 0 {
		models = allModels()
	}
	var present []string
	tables := db.tables(t, appID)
	for _, m := range models {
		if db.raw.Migrator().HasTable(tables.Name(m)) {
			present = append(present, m)
		}
	}
	d, err := schematest.Describe(db.raw, db.kind, tables, present...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// allModels returns the entities names of every table of the latest schema.
func allModels() []string {
	return []string{
		"Result", "Exception", "Invocation", "RunnerContext", "History",
		"Workflow", "AppInfo", "WorkflowData", "WorkflowSubInvocation", "Lease", "Migration",
	}
}

// gormFor returns a GORM handle that names tables and indexes as the
// backend of appID does.
func (db *schemaDB) gormFor(t *testing.T, appID string) *gorm.DB {
	t.Helper()
	gdb, err := gorm.Open(db.dialector(), &gorm.Config{
		Logger: logger.Discard, NamingStrategy: db.tables(t, appID).Namer(db.kind.MaxIdentifier()),
	})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	return gdb
}

// parseModel parses an entities model as gdb names it.
func parseModel(t *testing.T, gdb *gorm.DB, model any) *schema.Schema {
	t.Helper()
	stmt := &gorm.Statement{DB: gdb}
	if err := stmt.Parse(model); err != nil {
		t.Fatal(err)
	}
	return stmt.Schema
}

// newAppID returns a fresh app id for a test that drops its tables at the
// end.
func (db *schemaDB) newAppID(t *testing.T) string {
	t.Helper()
	id := conformance.NewAppID()
	db.dropAtEnd(t, id)
	return id
}
