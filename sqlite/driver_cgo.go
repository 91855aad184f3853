//go:build cgo && !statebackend_purego

package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// This file holds what the package knows of github.com/mattn/go-sqlite3,
// the driver of builds with cgo: SQLite's C sources compiled by the C
// compiler. driver_purego.go holds the same for builds without.

// DriverName is the database/sql driver name of the SQLite driver this
// build links: "sqlite3" (github.com/mattn/go-sqlite3) with cgo, "sqlite"
// (modernc.org/sqlite) without cgo or with the statebackend_purego build
// tag. Both accept the same file: DSNs (file: URIs with mode, immutable
// and cache; _busy_timeout, _journal_mode, _synchronous, _foreign_keys and
// _txlock), for programs that open a database file with database/sql
// beside the backend.
const DriverName = "sqlite3"

// PureGo reports whether this build uses the pure-Go SQLite driver
// (modernc.org/sqlite) rather than go-sqlite3, which needs cgo.
const PureGo = false

// newConnector returns the connector of the database at dsn: go-sqlite3,
// running pragmas on every new connection.
func newConnector(dsn string, pragmas []pragma) (driver.Connector, error) {
	setup := func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec("PRAGMA "+p.name+" = "+p.value, nil); err != nil {
				return err
			}
		}
		return nil
	}
	return connector{dsn: dsn, driver: &sqlite3.SQLiteDriver{ConnectHook: setup}}, nil
}

// connector opens connections to one DSN with one driver.
type connector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.driver }

// resultCode returns the SQLite result code of err (extended where SQLite
// gave one) and the system error behind it, if any; ok is false when err
// is not an SQLite error.
func resultCode(err error) (code int, errno syscall.Errno, ok bool) {
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return 0, 0, false
	}
	code = int(e.ExtendedCode)
	if code&primaryMask != int(e.Code) {
		code = int(e.Code) // an error of the driver's own, without an extended code
	}
	return code, e.SystemErrno, true
}
