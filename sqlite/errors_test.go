package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
)

// TestErrorClassification checks, on errors this build's driver returns
// from a real database, how the backend sees them: SQLITE_BUSY and
// SQLITE_LOCKED are transient (retried until the call's deadline),
// SQLITE_READONLY means the database refuses writes, UNIQUE, PRIMARY KEY
// and FOREIGN KEY violations become GORM's errors, and nothing else is
// any of these. It runs on both builds: with cgo (go-sqlite3) and without
// (modernc.org/sqlite, or -tags statebackend_purego).
func TestErrorClassification(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	d := Open(path)
	db := rawDB(t, "file:"+path+"?_busy_timeout=0&_journal_mode=WAL&_foreign_keys=1")
	for _, q := range []string{
		"CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER CHECK (n >= 0))",
		"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))",
		"INSERT INTO parent (id, name, n) VALUES (1, 'a', 1)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Busy: another connection holds the write lock, and this one may not
	// wait for it.
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "UPDATE parent SET n = 2"); err != nil {
		t.Fatal(err)
	}
	other := rawDB(t, "file:"+path+"?_busy_timeout=0")
	_, busyErr := other.ExecContext(ctx, "UPDATE parent SET n = 3")
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Locked: a table dropped on the connection that is reading it.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT id FROM parent")
	if err != nil || !rows.Next() {
		t.Fatalf("read parent: %v", err)
	}
	_, lockedErr := conn.ExecContext(ctx, "DROP TABLE parent")
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}

	// Read-only: a write on a connection opened with mode=ro.
	ro := rawDB(t, "file:"+path+"?mode=ro")
	_, readOnlyErr := ro.ExecContext(ctx, "INSERT INTO parent (id, name, n) VALUES (9, 'z', 1)")

	exec := func(q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}
	for _, c := range []struct {
		name      string
		err       error
		transient string
		readOnly  bool
		translate error // nil: Translate returns err itself
	}{
		{"busy", busyErr, "busy", false, nil},
		{"locked", lockedErr, "busy", false, nil},
		{"read_only", readOnlyErr, "", true, nil},
		{"unique", exec("INSERT INTO parent (id, name, n) VALUES (2, 'a', 1)"), "", false, gorm.ErrDuplicatedKey},
		{"primary_key", exec("INSERT INTO parent (id, name, n) VALUES (1, 'b', 1)"), "", false, gorm.ErrDuplicatedKey},
		{"foreign_key", exec("INSERT INTO child (id, parent_id) VALUES (1, 42)"), "", false, gorm.ErrForeignKeyViolated},
		{"check", exec("INSERT INTO parent (id, name, n) VALUES (3, 'c', -1)"), "", false, nil},
		{"syntax", exec("INSERT INTO nowhere VALUES (1)"), "", false, nil},
		{"not_sqlite", errors.New("other"), "", false, nil},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := transient(c.err); got != c.transient {
			t.Errorf("%s: transient(%v) = %q, want %q", c.name, c.err, got, c.transient)
		}
		if got := d.readOnlyErr(c.err); got != c.readOnly {
			t.Errorf("%s: readOnlyErr(%v) = %v, want %v", c.name, c.err, got, c.readOnly)
		}
		want := c.translate
		if want == nil {
			want = c.err
		}
		if got := d.Translate(c.err); got != want {
			t.Errorf("%s: Translate(%v) = %v, want %v", c.name, c.err, got, want)
		}
	}
}

// TestNotADatabase checks the error of opening a file that is not an
// SQLite database, read-write and read-only: it names the file and says
// what it is not, with either driver (SQLITE_NOTADB).
func TestNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {ReadOnly()}} {
		_, err := statebackend.Open(Open(path, opts...))
		if err == nil || !strings.Contains(err.Error(), path+" is not an SQLite database") {
			t.Errorf("open of a text file with %d options: %v, want an error saying it is not an SQLite database", len(opts), err)
		}
	}
}

// rawDB opens dsn with this build's database/sql driver, closed when t
// ends.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
