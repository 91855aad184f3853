//go:build !cgo || statebackend_purego

package repository_test

import (
	"sync/atomic"

	modernc "modernc.org/sqlite"
)

// countReads registers on the modernc.org/sqlite connection c an
// authorizer that adds one to n each time a statement reading table is
// compiled.
func countReads(c any, table string, n *atomic.Int64) error {
	return c.(modernc.AuthorizerRegisterer).RegisterAuthorizer(func(op modernc.AuthorizerActionCode, t, _, _, _ string) modernc.AuthorizerReturnCode {
		if op == modernc.AuthRead && t == table {
			n.Add(1)
		}
		return modernc.AuthorizerOK
	})
}
