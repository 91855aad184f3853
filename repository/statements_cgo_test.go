//go:build cgo && !statebackend_purego

package repository_test

import (
	"sync/atomic"

	"github.com/mattn/go-sqlite3"
)

// countReads registers on the go-sqlite3 connection c an authorizer that
// adds one to n each time a statement reading table is compiled.
func countReads(c any, table string, n *atomic.Int64) error {
	c.(*sqlite3.SQLiteConn).RegisterAuthorizer(func(op int, t, _, _ string) int {
		if op == sqlite3.SQLITE_READ && t == table {
			n.Add(1)
		}
		return sqlite3.SQLITE_OK
	})
	return nil
}
