//go:build cgo && !statebackend_purego

package main

import (
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"
)

// sqliteMmapDriver is go-sqlite3 with the connection setup of
// sqlite.Open (the database file memory-mapped), registered by main.
const sqliteMmapDriver = "sqlite3_bench"

// sqliteDriverParams are DSN parameters the raw implementation's SQLite
// driver needs on top of go-sqlite3's: none.
const sqliteDriverParams = ""

func registerSQLiteDriver() {
	sql.Register(sqliteMmapDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA mmap_size = 268435456", nil)
			return err
		},
	})
}

func sqliteBusy(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked)
}
