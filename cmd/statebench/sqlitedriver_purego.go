//go:build !cgo || statebackend_purego

package main

import (
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/sqlite"
)

// sqliteMmapDriver is the pure-Go SQLite driver the sqlite package uses in
// this build; sqliteDriverParams give it the connection setup of
// sqlite.Open (the database file memory-mapped).
const sqliteMmapDriver = sqlite.DriverName

const sqliteDriverParams = "&_pragma=mmap_size%28268435456%29"

// registerSQLiteDriver registers nothing: the sqlite package's driver
// registers itself.
func registerSQLiteDriver() {}

// sqliteBusy reports lock contention as the sqlite package classifies it.
func sqliteBusy(err error) bool {
	return sqlite.Open(":memory:").Dialect().Transient(err) == dialect.TransientBusy
}
