package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
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

// TestReadOnlyErr checks which SQLite errors mean the database refuses
// writes.
func TestReadOnlyErr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sqlite3.Error{Code: sqlite3.ErrReadonly}, true},
		{fmt.Errorf("wrapped: %w", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EROFS}), true},
		{sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.ENOSPC}, false},
		{sqlite3.Error{Code: sqlite3.ErrBusy}, false},
		{errors.New("other"), false},
	} {
		if got := readOnlyErr(c.err); got != c.want {
			t.Errorf("readOnlyErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
