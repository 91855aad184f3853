package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// TestOpenDSN checks the connection settings of each mode: a read-only
// connection switches no journal mode and takes no write lock.
func TestOpenDSN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		opts      []Option
		want, not []string
	}{
		{"read_write", nil, []string{"_journal_mode=WAL", "_txlock=immediate", "_busy_timeout=20"}, []string{"mode=ro", "immutable"}},
		{"read_only", []Option{ReadOnly()}, []string{"mode=ro", "_busy_timeout=20"}, []string{"_journal_mode", "_txlock", "immutable"}},
		{"immutable", []Option{Immutable()}, []string{"mode=ro", "immutable=1"}, []string{"_journal_mode", "_txlock"}},
		// Immutable or not is decided at open, from the files.
		{"immutable_when_closed", []Option{ImmutableWhenClosed()}, []string{"mode=ro"}, []string{"_journal_mode", "_txlock", "immutable"}},
	} {
		d := Open("/data/state.db", c.opts...)
		for _, w := range c.want {
			if !strings.Contains(d.DSN, w) {
				t.Errorf("%s: DSN %q lacks %q", c.name, d.DSN, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(d.DSN, n) {
				t.Errorf("%s: DSN %q has %q", c.name, d.DSN, n)
			}
		}
		if ro := d.Dialect().ReadOnly; ro != (c.opts != nil) || d.Dialect().SingleWriter == ro {
			t.Errorf("%s: Dialect().ReadOnly %v, SingleWriter %v", c.name, ro, d.Dialect().SingleWriter)
		}
	}
}

// TestIsWAL checks the header test against a file in WAL mode, one in
// rollback mode, and a file that is not a database.
func TestIsWAL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	header := func(v byte) []byte {
		h := make([]byte, 100)
		copy(h, "SQLite format 3\x00")
		h[18], h[19] = v, v
		return h
	}
	for name, c := range map[string]struct {
		data []byte
		want bool
	}{
		"wal":      {header(2), true},
		"rollback": {header(1), false},
		"short":    {[]byte("x"), false},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := isWAL(path); got != c.want {
			t.Errorf("%s: isWAL %v, want %v", name, got, c.want)
		}
	}
}

// TestReadOnlyDatabase checks the dialector's ReadOnly: a file dialector
// comes back read-only with its other options, an in-memory one as it is.
func TestReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	ro, ok := Open("/data/state.db").ReadOnly().(*Dialector)
	if !ok || !ro.Dialect().ReadOnly || !strings.Contains(ro.DSN, "mode=ro") {
		t.Errorf("ReadOnly of a file dialector: %+v", ro)
	}
	if closed := Open("/data/state.db", ImmutableWhenClosed()).ReadOnly().(*Dialector); !closed.cfg.immutableWhenClosed {
		t.Errorf("ReadOnly dropped ImmutableWhenClosed")
	}
	mem := Open(":memory:")
	if got := mem.ReadOnly(); got != mem {
		t.Errorf("ReadOnly of an in-memory dialector: %v, want the same dialector", got)
	}
}

// TestReadOnlyMode checks how a read-only open reads each kind of file:
// with mode=ro where that creates nothing or the process may create the
// -wal and -shm files, immutable where nothing can write the file or
// ImmutableWhenClosed asks for it, never immutable while a process has the
// database open.
func TestReadOnlyMode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		opts      []Option
		prepare   func(t *testing.T, path string)
		immutable bool
	}{
		{"wal_closed", nil, nil, false},
		{"wal_closed_no_write_permission", nil, func(t *testing.T, path string) { chmod(t, path, 0o444) }, true},
		{"wal_closed_immutable_when_closed", []Option{ImmutableWhenClosed()}, nil, true},
		{"wal_open", []Option{ImmutableWhenClosed()}, func(t *testing.T, path string) { keepOpen(t, path) }, false},
		{"wal_open_no_write_permission", nil, func(t *testing.T, path string) {
			keepOpen(t, path)
			chmod(t, path, 0o444)
		}, false},
		{"rollback_journal", []Option{ImmutableWhenClosed()}, func(t *testing.T, path string) { journalMode(t, path, "delete") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			createDatabase(t, path)
			if c.prepare != nil {
				c.prepare(t, path)
			}
			d := Open(path, append([]Option{ReadOnly()}, c.opts...)...)
			immutable, err := d.readOnlyMode()
			if err != nil || immutable != c.immutable {
				t.Errorf("readOnlyMode: %v, %v, want %v", immutable, err, c.immutable)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "missing.db")
		if _, err := Open(path, ReadOnly()).readOnlyMode(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("readOnlyMode of a missing file: %v, want fs.ErrNotExist naming it", err)
		}
	})
}

// TestDirectory checks that a directory given as the database is named as
// a directory, read-write and read-only, not as a file that cannot be
// written or opened.
func TestDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, opts := range [][]Option{nil, {ReadOnly()}, {ImmutableWhenClosed()}, {Immutable()}} {
		_, err := statebackend.Open(Open(dir, opts...))
		if !errors.Is(err, statebackend.ErrInvalidArgument) || !strings.Contains(err.Error(), dir+" is a directory") {
			t.Errorf("open of a directory with %d options: %v, want ErrInvalidArgument saying it is a directory", len(opts), err)
		}
	}
}

// createDatabase writes a database with the backend's schema at path and
// closes it: a WAL database with no -wal or -shm file.
func createDatabase(t *testing.T, path string) {
	t.Helper()
	b, err := statebackend.Open(Open(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// keepOpen opens the database at path read-write until t ends, as a
// running writer does: its -wal and -shm files exist meanwhile.
func keepOpen(t *testing.T, path string) {
	t.Helper()
	b, err := statebackend.Open(Open(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// journalMode switches the database at path to mode with plain SQLite.
func journalMode(t *testing.T, path, mode string) {
	t.Helper()
	db, err := sql.Open(DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRow("PRAGMA journal_mode = " + mode).Scan(&got); err != nil || got != mode {
		t.Fatalf("journal mode %s: %q, %v", mode, got, err)
	}
}

// TestHotJournal checks the error of reading a rollback-journal database
// whose writer stopped in the middle of a transaction: a read-only open
// cannot roll it back, and says so instead of "attempt to write a readonly
// database". The pair is made by copying a database and its journal while
// a transaction is open on the original.
//
// Not parallel: with the pure-Go driver, SQLite in a process where another
// database holds a write lock takes the journal for one whose writer is
// alive, and reads the file as it is, without the error.
func TestHotJournal(t *testing.T) {
	dir := t.TempDir()
	orig, hot := filepath.Join(dir, "orig.db"), filepath.Join(dir, "hot.db")
	db, err := sql.Open(DriverName, "file:"+orig+"?_journal_mode=DELETE")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"CREATE TABLE t (x BLOB)",
		"INSERT INTO t SELECT randomblob(1000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200) SELECT i FROM n)",
		"PRAGMA cache_size = 1",
		"BEGIN",
		"DELETE FROM t",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, suffix := range []string{"", "-journal"} {
		data, err := os.ReadFile(orig + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hot+suffix, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	_, err = statebackend.Open(Open(hot, ReadOnly()))
	if err == nil || !strings.Contains(err.Error(), "hot.db has a hot journal") || !strings.Contains(err.Error(), "open it once read-write") {
		t.Errorf("read-only open of a database with a hot journal: %v, want an error naming the journal and the fix", err)
	}
}

// TestWithoutMemoryMap checks that every connection maps 256 MiB of the
// file by default and none with WithoutMemoryMap, read-only too.
func TestWithoutMemoryMap(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	for _, c := range []struct {
		name string
		opts []Option
		want int64
	}{
		{"default", nil, 268435456},
		{"without", []Option{WithoutMemoryMap()}, 0},
		{"read_only_without", []Option{ReadOnly(), WithoutMemoryMap()}, 0},
	} {
		db, err := gorm.Open(Open(path, c.opts...), &gorm.Config{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got int64
		if err := db.Raw("PRAGMA mmap_size").Scan(&got).Error; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: mmap_size %d, want %d", c.name, got, c.want)
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
}

// TestWithCheckpointEvery checks that every connection of a writable
// database checkpoints its log at the pages asked for, that a read-only
// one keeps SQLite's default, and that a count below 1 is refused.
func TestWithCheckpointEvery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	for _, c := range []struct {
		name string
		opts []Option
		want int64
	}{
		{"default", nil, 1000},
		{"every_20000", []Option{WithCheckpointEvery(20000)}, 20000},
		{"read_only", []Option{ReadOnly(), WithCheckpointEvery(20000)}, 1000},
	} {
		db, err := gorm.Open(Open(path, c.opts...), &gorm.Config{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		// Two connections at once: both were set up.
		var conns []*sql.Conn
		for range 2 {
			conn, err := sqlDB.Conn(ctx)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			conns = append(conns, conn)
			var got int64
			if err := conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&got); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got != c.want {
				t.Errorf("%s: wal_autocheckpoint %d, want %d", c.name, got, c.want)
			}
		}
		for _, conn := range conns {
			_ = conn.Close()
		}
		_ = sqlDB.Close()
	}
	for _, pages := range []int{0, -1} {
		_, err := gorm.Open(Open(path, WithCheckpointEvery(pages)), &gorm.Config{})
		if !errors.Is(err, state.ErrInvalidArgument) || !strings.Contains(err.Error(), "checkpoint every") {
			t.Errorf("WithCheckpointEvery(%d): %v, want ErrInvalidArgument naming the option", pages, err)
		}
	}
}
