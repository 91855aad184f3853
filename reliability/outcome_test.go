package reliability_test

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetryAfterFailedCallConverges proves the rule of "Outcome of a
// failed call": a call that fails on a deadline or a lost connection may
// or may not have been committed, and since every write is idempotent,
// retrying it converges. On Postgres and MySQL/MariaDB, every write method
// is made to fail by a server that stops answering, either at once (the
// server never sees COMMIT: nothing committed) or right after COMMIT was
// sent (committed, but the caller never hears of it); the write is then
// retried once the server answers again, and the final state must be the
// write's, exactly once (one history record per id, not two). SQLite's
// leg is in TestSQLiteDeadlineWhileAnotherProcessHoldsTheLock.
func TestRetryAfterFailedCallConverges(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	for _, db := range serverDBs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			db.dsn(t)
			for _, op := range writeOps(600) {
				for _, afterCommit := range []bool{false, true} {
					name := op.name + map[bool]string{true: "/after_commit", false: "/at_once"}[afterCommit]
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						ctx := t.Context()
						b, p := db.openVia(t, "")
						if err := preparePurge(ctx, b); err != nil {
							t.Fatal(err)
						}
						if afterCommit {
							p.StallAfter([]byte("COMMIT"))
						} else {
							p.Stall()
						}
						cctx, cancel := context.WithTimeout(ctx, timeout)
						err := op.write(cctx, b, "retried")
						cancel()
						p.Resume()
						if err == nil {
							// A single statement outside a transaction sends
							// no COMMIT: the stall never began.
							if !afterCommit {
								t.Fatal("a write facing a silent server succeeded")
							}
						} else if !errors.Is(err, context.DeadlineExceeded) {
							t.Fatalf("injected failure: %v, want context.DeadlineExceeded", err)
						}
						before, err := op.state(ctx, b, "retried")
						if err != nil {
							t.Fatal(err)
						}
						if err := op.write(ctx, b, "retried"); err != nil {
							t.Fatalf("retry: %v", err)
						}
						written, err := op.state(ctx, b, "retried")
						if err != nil || !written {
							t.Fatalf("after the retry: written %v, %v", written, err)
						}
						t.Logf("committed by the failed call: %v; after the retry: exactly once", before)
					})
				}
			}
		})
	}
}
