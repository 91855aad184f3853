package schematest_test

// The conformance suite on upgraded databases lives here rather than with
// the root package's tests: it is a whole suite per database, and a test
// binary of its own runs it in parallel with theirs.

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// TestMain removes the database containers the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = pgtest.Terminate()
	_ = mysqltest.Terminate()
	os.Exit(code)
}

// TestConformanceOnUpgradedDatabase runs the conformance suite on backends
// whose tables v0.1.0 created (from its DDL) and Open migrated: every app
// the suite opens starts at schema version 1. The 64 MiB payload tests are
// left to the plain runs of the root package: migrations do not touch the
// payload columns.
func TestConformanceOnUpgradedDatabase(t *testing.T) {
	t.Parallel()
	for _, kind := range []schematest.Dialect{schematest.SQLite, schematest.Postgres, schematest.MySQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var dialector func() gorm.Dialector
			var dbPath string
			switch kind {
			case schematest.SQLite:
				dbPath = filepath.Join(t.TempDir(), "upgraded.db")
				dialector = func() gorm.Dialector { return sqlite.Open(dbPath) }
			case schematest.Postgres:
				dsn := pgtest.DSN(t)
				dialector = func() gorm.Dialector { return postgres.Open(dsn) }
			case schematest.MySQL:
				dsn := mysqltest.DSN(t)
				dialector = func() gorm.Dialector { return mysql.Open(dsn) }
			}
			rawDialector := dialector()
			if kind == schematest.SQLite {
				// The raw handle creates tables while the suite's backends
				// write: it waits for their lock as SQLite does by itself
				// (the backends' own short busy timeout is for callers with
				// deadlines, and they retry; this handle does not).
				rawDialector = &gormsqlite.Dialector{DriverName: sqlite.DriverName, DSN: "file:" + dbPath + "?_busy_timeout=30000"}
			}
			raw, err := gorm.Open(rawDialector, &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, err := raw.DB()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sqlDB.Close() })
			// Each app's version-1 tables are created once, by the first test
			// that opens it; tests of other apps go on meanwhile.
			var mu sync.Mutex
			created := map[string]func() error{}
			create := func(appID string) error {
				mu.Lock()
				once, ok := created[appID]
				if !ok {
					once = sync.OnceValue(func() error {
						if appID == "" && kind != schematest.SQLite {
							// The servers' default app is the plain runs' (in
							// the root package's test binary): left alone.
							return nil
						}
						if err := schematest.CreateVersion1(raw, kind, appID, false); err != nil {
							return err
						}
						if kind != schematest.SQLite {
							tables, err := entities.NewTables(appID, kind.MaxIdentifier())
							if err != nil {
								return err
							}
							t.Cleanup(func() {
								for _, name := range tables.Names() {
									_ = raw.Migrator().DropTable(name)
								}
							})
						}
						return nil
					})
					created[appID] = once
				}
				mu.Unlock()
				return once()
			}
			conformance.Run(t, conformance.Harness{
				Features: conformance.Features{NoLargePayloads: true},
				Open: func(tb testing.TB, appID string) state.Backend {
					tb.Helper()
					if err := create(appID); err != nil {
						tb.Fatal(err)
					}
					b, err := statebackend.Open(dialector(), statebackend.WithAppID(appID))
					if err != nil {
						tb.Fatalf("open upgraded app %q: %v", appID, err)
					}
					tb.Cleanup(func() { _ = b.Close() })
					return b
				},
			})
		})
	}
}
