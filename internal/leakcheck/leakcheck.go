// Package leakcheck finds the goroutines a test left behind, as goleak
// does, but waits longer for those on their way out. goleak gives them
// about half a second; a goroutine that Close has ended may wait longer
// than that for a CPU on a machine that runs other jobs, and would be
// reported as a leak.
package leakcheck

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Wait bounds how long Find waits for leftover goroutines to end.
const Wait = time.Minute

// Find returns nil as soon as no goroutine is left but those opts ignore,
// and goleak's report of those left when some still run after Wait.
func Find(opts ...goleak.Option) error {
	deadline := time.Now().Add(Wait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// VerifyNone fails t with Find's report when goroutines are left.
func VerifyNone(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	if err := Find(opts...); err != nil {
		t.Error(err)
	}
}
