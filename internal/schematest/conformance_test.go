package schematest_test

// The conformance suite on upgraded databases lives here rather than with
// the root package's tests: it is a whole suite per database, and a test
// binary of its own runs it in parallel with theirs.

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

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
			switch kind {
			case schematest.SQLite:
				path := filepath.Join(t.TempDir(), "upgraded.db")
				dialector = func() gorm.Dialector { return sqlite.Open(path) }
			case schematest.Postgres:
				dsn := pgtest.DSN(t)
				dialector = func() gorm.Dialector { return postgres.Open(dsn) }
			case schematest.MySQL:
				dsn := mysqltest.DSN(t)
				dialector = func() gorm.Dialector { return mysql.Open(dsn) }
			}
			raw, err := gorm.Open(dialector(), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, err := raw.DB()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sqlDB.Close() })
			var mu sync.Mutex
			created := map[string]bool{}
			conformance.Run(t, conformance.Harness{
				Features: conformance.Features{NoLargePayloads: true},
				Open: func(tb testing.TB, appID string) state.Backend {
					tb.Helper()
					mu.Lock()
					if !created[appID] && (appID != "" || kind == schematest.SQLite) {
						// The servers' default app is the plain runs' (in the
						// root package's test binary): left alone.
						created[appID] = true
						err := schematest.CreateVersion1(raw, kind, appID, false)
						if err == nil && kind != schematest.SQLite {
							tables, terr := entities.NewTables(appID, kind.MaxIdentifier())
							err = terr
							t.Cleanup(func() {
								for _, name := range tables.Names() {
									_ = raw.Migrator().DropTable(name)
								}
							})
						}
						if err != nil {
							mu.Unlock()
							tb.Fatal(err)
						}
					}
					mu.Unlock()
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
