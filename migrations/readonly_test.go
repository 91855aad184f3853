package migrations_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/sqlite"
)

// TestWithReadOnly proves WithReadOnly on every database: an app at an
// older schema version reads, every write and a migration are refused with
// ErrReadOnly, a dry run of the migration works, and nothing is created:
// not the app's tables, not the migrations table.
func TestWithReadOnly(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		ctx := t.Context()
		t.Run("older_schema", func(t *testing.T) {
			app := db.newAppID(t)
			db.createVersion1(t, app, false)
			before := db.describe(t, app)
			b, err := db.open(t, app, statebackend.WithReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Result(ctx, "missing"); !errors.Is(err, statebackend.ErrNotFound) {
				t.Errorf("read on a read-only backend: %v, want ErrNotFound", err)
			}
			checkWritesRefused(t, b)
			m := schematest.ReadOnlyMigrator(t, db.dialector(), app)
			st, err := m.Status(ctx)
			if err != nil || st.Version != 1 {
				t.Fatalf("read-only status: %+v, %v, want version 1", st, err)
			}
			res, err := m.Migrate(ctx, migrations.Options{DryRun: true})
			if err != nil || len(res.Applied) != migrations.Latest()-1 {
				t.Errorf("read-only dry run: %+v, %v", res, err)
			}
			_, err = m.Migrate(ctx, migrations.Options{})
			wantErr(t, err, statebackend.ErrReadOnly, "open read-only")
			if after := db.describe(t, app); after != before {
				t.Errorf("a read-only backend changed the schema:\n%s\nwas\n%s", after, before)
			}
		})
		t.Run("app_without_tables", func(t *testing.T) {
			app := db.newAppID(t)
			before := db.describe(t, app)
			b, err := db.open(t, app, statebackend.WithReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.DiscoverAppInfos(ctx); err != nil {
				t.Errorf("DiscoverAppInfos on a read-only backend: %v", err)
			}
			checkWritesRefused(t, b)
			if after := db.describe(t, app); after != before {
				t.Errorf("a read-only backend created tables:\n%s", after)
			}
		})
	})
}

// checkWritesRefused proves that writes to b fail at once with
// ErrReadOnly.
func checkWritesRefused(t *testing.T, b statebackend.Backend) {
	t.Helper()
	ctx := t.Context()
	for name, write := range map[string]func() error{
		"SetResult":    func() error { return b.SetResult(ctx, "inv", []byte("1")) },
		"StoreAppInfo": func() error { return b.StoreAppInfo(ctx, statebackend.AppInfo{AppID: "x"}) },
		"Purge":        func() error { return b.Purge(ctx) },
	} {
		if err := write(); !errors.Is(err, statebackend.ErrReadOnly) {
			t.Errorf("%s on a read-only backend: %v, want ErrReadOnly", name, err)
		}
	}
}

// TestWithReadOnlySQLiteFile proves that WithReadOnly alone, with a plain
// sqlite.Open(path), reads a SQLite file without changing a byte of it or
// creating a file beside it: a file nobody may write (0444), and a
// database in rollback-journal mode, which stays in that mode.
func TestWithReadOnlySQLiteFile(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"read_only_file", func(t *testing.T, path string) {
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
		}},
		{"rollback_journal", func(t *testing.T, path string) { setJournalMode(t, path, "delete") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			writeResult(t, path, "inv-1", "42")
			c.prepare(t, path)
			before := dirDigest(t, dir)

			b, err := statebackend.Open(sqlite.Open(path), statebackend.WithReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			if got, err := b.Result(ctx, "inv-1"); err != nil || string(got) != "42" {
				t.Errorf("read: %q, %v", got, err)
			}
			checkWritesRefused(t, b)
			// A migrator opens the file read-only through the dialector.
			db, err := gorm.Open(sqlite.Open(path, sqlite.ReadOnly()), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			m, err := migrations.NewMigrator(db, migrations.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if st, err := m.Status(ctx); err != nil || !st.Usable() {
				t.Errorf("read-only status: %+v, %v", st, err)
			}
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(sqlDB.Close(), b.Close()); err != nil {
				t.Fatal(err)
			}
			if after := dirDigest(t, dir); !slices.Equal(after, before) {
				t.Errorf("reading changed the directory:\n%v\nwas\n%v", after, before)
			}
		})
	}
}

// writeResult writes a result into a new SQLite file at path and closes
// it, which leaves the database in WAL mode with no -wal or -shm file.
func writeResult(t *testing.T, path string, id statebackend.InvocationID, value string) {
	t.Helper()
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetResult(t.Context(), id, []byte(value)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// setJournalMode switches the SQLite file at path to mode with plain
// SQLite, as another program would.
func setJournalMode(t *testing.T, path, mode string) {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRowContext(context.Background(), "PRAGMA journal_mode = "+mode).Scan(&got); err != nil || got != mode {
		t.Fatalf("journal mode %s: %q, %v", mode, got, err)
	}
}

// dirDigest lists the files of dir with the SHA-256 of each, sorted.
func dirDigest(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out = append(out, e.Name()+" "+hex.EncodeToString(sum[:]))
	}
	return out
}
