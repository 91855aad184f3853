package reliability_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// checkReadOnly proves that b, opened read-only, reads the data of
// writeOps(1) written under key, and refuses every write at once with
// statebackend.ErrReadOnly and the op prefix, without reaching the
// database, changing nothing.
func checkReadOnly(t *testing.T, b statebackend.Backend, key string) {
	t.Helper()
	ctx := t.Context()
	for _, op := range writeOps(1) {
		if op.name != "Purge" {
			if written, err := op.state(ctx, b, key); err != nil || !written {
				t.Errorf("read-only %s: data not readable: %v, %v", op.name, written, err)
			}
		}
		err := op.write(ctx, b, "refused")
		if !errors.Is(err, statebackend.ErrReadOnly) || !strings.HasPrefix(err.Error(), "statebackend: "+op.name+": ") {
			t.Errorf("read-only %s: %v, want statebackend: %s: ... wrapping ErrReadOnly", op.name, err, op.name)
		} else if errors.Unwrap(err) != statebackend.ErrReadOnly {
			// A refusal by the database wraps the database's error too: the
			// call reached it, and might have waited for its locks.
			t.Errorf("read-only %s: %v, want it refused at once, without reaching the database", op.name, err)
		}
	}
	if _, err := b.Result(ctx, purgeKey); err != nil {
		t.Errorf("read-only: the refused Purge changed something: %v", err)
	}
}

// writeFixture writes the data of every op of writeOps(1) under key, and
// the Purge sentinel, into a new SQLite file at path, and closes it (which
// checkpoints the WAL into the file and removes the -wal and -shm files).
func writeFixture(t *testing.T, path, key string) {
	t.Helper()
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range writeOps(1) {
		if op.name == "Purge" {
			continue
		}
		if err := op.write(t.Context(), b, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := preparePurge(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteReadOnly proves sqlite.ReadOnly and sqlite.Immutable: reads
// work, writes fail at once with ErrReadOnly, a read-only backend sees
// what a writer commits meanwhile, and a missing file is named as such
// rather than created.
func TestSQLiteReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	writeFixture(t, path, "fixture")

	t.Run("read_only_beside_a_writer", func(t *testing.T) {
		writer, err := statebackend.Open(sqlite.Open(path))
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		ro, err := statebackend.Open(sqlite.Open(path, sqlite.ReadOnly()))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		checkReadOnly(t, ro, "fixture")
		if err := writer.SetResult(t.Context(), "live", []byte("new")); err != nil {
			t.Fatal(err)
		}
		if got, err := ro.Result(t.Context(), "live"); err != nil || string(got) != "new" {
			t.Errorf("read-only backend does not see a writer's commit: %q, %v", got, err)
		}
	})
	t.Run("immutable", func(t *testing.T) {
		b, err := statebackend.Open(sqlite.Open(path, sqlite.Immutable()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		checkReadOnly(t, b, "fixture")
	})
	t.Run("missing_file", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.db")
		_, err := statebackend.Open(sqlite.Open(missing, sqlite.ReadOnly()))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("read-only open of a missing file: %v, want fs.ErrNotExist naming it", err)
		}
		if _, statErr := os.Stat(missing); !errors.Is(statErr, fs.ErrNotExist) {
			t.Errorf("read-only open created %s", missing)
		}
	})
	t.Run("memory", func(t *testing.T) {
		_, err := statebackend.Open(sqlite.Open(":memory:", sqlite.ReadOnly()))
		if !errors.Is(err, statebackend.ErrInvalidArgument) {
			t.Errorf("read-only in-memory database: %v, want ErrInvalidArgument", err)
		}
	})
}
