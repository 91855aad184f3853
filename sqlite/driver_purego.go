//go:build !cgo || statebackend_purego

package sqlite

import (
	"database/sql/driver"
	"errors"
	"strings"
	"syscall"

	modernc "modernc.org/sqlite"
)

// This file holds what the package knows of modernc.org/sqlite, the driver
// of builds without cgo (or with the statebackend_purego build tag):
// SQLite's C sources translated to Go, so no C compiler is needed. It
// reads and writes the same file format, with the same locks, as
// go-sqlite3 (driver_cgo.go): processes of both builds share a database.

// DriverName is the database/sql driver name of the SQLite driver this
// build links: "sqlite3" (github.com/mattn/go-sqlite3) with cgo, "sqlite"
// (modernc.org/sqlite) without cgo or with the statebackend_purego build
// tag. Both accept the same file: DSNs (file: URIs with mode, immutable
// and cache; _busy_timeout, _journal_mode, _synchronous, _foreign_keys and
// _txlock), for programs that open a database file with database/sql
// beside the backend.
const DriverName = "sqlite"

// PureGo reports whether this build uses the pure-Go SQLite driver
// (modernc.org/sqlite) rather than go-sqlite3, which needs cgo.
const PureGo = true

// newConnector returns the connector of the database at dsn:
// modernc.org/sqlite, which understands go-sqlite3's DSN parameters,
// running pragmas on every new connection, with times written in
// go-sqlite3's format (the backend stores none, but a program sharing the
// file may).
func newConnector(dsn string, pragmas []pragma) (driver.Connector, error) {
	var b strings.Builder
	b.WriteString(dsn)
	for _, p := range pragmas {
		b.WriteString("&_pragma=" + p.name + "%28" + p.value + "%29")
	}
	b.WriteString("&_time_format=sqlite")
	return modernc.NewConnector(b.String())
}

// resultCode returns the SQLite result code of err (extended where SQLite
// gave one) and the system error behind it, which this driver does not
// report (errno is 0); ok is false when err is not an SQLite error.
func resultCode(err error) (code int, errno syscall.Errno, ok bool) {
	var e *modernc.Error
	if !errors.As(err, &e) {
		return 0, 0, false
	}
	return e.Code(), 0, true
}
