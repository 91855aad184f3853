package repository_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/sqlite"
)

// TestMain removes the database containers the tests started, and fails
// the run if a goroutine is left over: every repository and database the
// tests opened is closed by then.
func TestMain(m *testing.M) {
	code := m.Run()
	err := errors.Join(pgtest.Terminate(), mysqltest.Terminate())
	if err == nil && code == 0 {
		err = goleak.Find()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// app is one app's tables on a test database, set up as statebackend.Open
// sets them up: the GORM database configured as the store configures it,
// the schema created by the migrator, and the repository built as the
// store builds it.
type app struct {
	db      *gorm.DB
	dialect dialect.Dialect
	tables  entities.Tables
	repo    repository.Repo
}

// sqliteFile returns a dialector of a new SQLite file.
func sqliteFile(t testing.TB) gorm.Dialector {
	return sqlite.Open(filepath.Join(t.TempDir(), "repo.db"))
}

// postgresDB returns a dialector of the shared Postgres test database; it
// skips t when there is none (see pgtest.DSN).
func postgresDB(t testing.TB) gorm.Dialector {
	t.Helper()
	return postgres.Open(pgtest.DSN(t))
}

// openApp opens appID's tables on d with the dialect's pool, changed by
// pool's non-zero fields, and closes them when t ends.
func openApp(t testing.TB, d gorm.Dialector, appID string, pool dialect.Pool) *app {
	t.Helper()
	dl := dialect.Of(d)
	tables, err := entities.NewTables(appID, dl.MaxIdentifierLength)
	if err != nil {
		t.Fatal(err)
	}
	db, err := gorm.Open(d, &gorm.Config{
		NamingStrategy:         tables.Namer(dl.MaxIdentifierLength),
		SkipDefaultTransaction: true,
		TranslateError:         true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		Logger:                 logger.Discard,
	})
	if err != nil {
		t.Fatalf("open %s: %v", dl.Name, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	dl.Pool.With(pool).Apply(sqlDB)
	// As the store: with one connection, a statement prepared on the pool
	// inside a transaction would wait for that connection forever.
	if sqlDB.Stats().MaxOpenConnections == 1 {
		dl.PrepareStatements = false
	}
	m, err := migrations.NewMigrator(db, migrations.Config{AppID: appID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("create the schema of %q: %v", appID, err)
	}
	repo := repository.New(tables, repository.Config{
		Prepare:                   dl.PrepareStatements,
		PrepareRefused:            dl.PrepareRefused,
		DB:                        sqlDB,
		UnindexedHistoryTimestamp: dl.Hints.UnindexedHistoryTimestamp,
		FinalPredicate:            migrations.FinalIndexPredicate,
	})
	t.Cleanup(repo.Close) // before the database closes: cleanups run last in, first out
	return &app{db: db, dialect: dl, tables: tables, repo: repo}
}
