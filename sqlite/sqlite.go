package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"

	"github.com/mattn/go-sqlite3"
	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
)

// Dialector is the gorm.Dialector of one SQLite database, with the
// backend's settings for it (it implements statebackend.Database). Pass it
// to statebackend.Open.
type Dialector struct {
	*gormsqlite.Dialector
	memory bool
}

var _ statebackend.Database = (*Dialector)(nil)

// Open returns the dialector of the SQLite database file at path, created
// if missing. The path ":memory:" (or "") gives a private in-memory
// database, gone when the backend is closed.
func Open(path string) *Dialector {
	if path == ":memory:" || path == "" {
		// A named shared-cache database lives as long as a connection to it
		// is open: the pool keeps exactly one.
		return &Dialector{
			Dialector: &gormsqlite.Dialector{DSN: "file:statebackend-" + randomName() + "?mode=memory&cache=shared&_txlock=immediate"},
			memory:    true,
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "0")
	q.Set("cache", "private")
	return &Dialector{Dialector: &gormsqlite.Dialector{DSN: "file:" + escapePath(path) + "?" + q.Encode()}}
}

// Dialect implements statebackend.Database.
func (d *Dialector) Dialect() statebackend.Dialect {
	pool := statebackend.Pool{MaxOpenConns: 8, MaxIdleConns: 8}
	if d.memory {
		pool = statebackend.Pool{MaxOpenConns: 1, MaxIdleConns: 1}
	}
	return statebackend.Dialect{
		Name: "sqlite",
		// Without AUTOINCREMENT SQLite still hands out increasing ids (the
		// largest + 1) and skips updating sqlite_sequence on every insert;
		// an id could only be reused after the newest history row is
		// deleted, and history ids only order records of equal timestamps.
		Columns:           statebackend.ColumnTypes{Serial: "integer PRIMARY KEY"},
		Pool:              pool,
		PrepareStatements: true,
		SingleWriter:      true,
		Transient:         transient,
		Hints:             statebackend.QueryHints{UnindexedHistoryTimestamp: "+history_timestamp"},
		Lock:              lock,
		PartialIndexes:    true,
	}
}

// Initialize implements gorm.Dialector: it opens the database through a
// connector of its own, which memory-maps the database file on every
// connection (reads and index updates then copy less), without registering
// a driver in the process.
func (d *Dialector) Initialize(db *gorm.DB) error {
	inner := *d.Dialector
	inner.Conn = sql.OpenDB(connector{dsn: d.DSN, driver: &sqlite3.SQLiteDriver{ConnectHook: setup}})
	return inner.Initialize(db)
}

// setup runs on every new connection.
func setup(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA mmap_size = 268435456", nil)
	return err
}

// connector opens connections to one DSN with one driver.
type connector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.driver }

// transient reports SQLITE_BUSY and SQLITE_LOCKED: another connection holds
// the lock longer than the busy timeout, or SQLite refused to wait.
func transient(err error) string {
	var e sqlite3.Error
	if errors.As(err, &e) && (e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked) {
		return "busy"
	}
	return ""
}

// escapePath escapes the characters that would end a file URI's path.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
