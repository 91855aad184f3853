package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgreplicatest"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/state"
)

// The tests below hold one transaction open, with a change id below a
// committed one, in the situations where the database's list of the
// transactions in flight may leave it out: a following watch must wait for
// it, and deliver its change once it commits; LatestChange must not
// return while it is open.

// TestWatchWaitsForTransactionAboveSnapshotXmax: on Postgres, a
// snapshot's xmax is one past the newest transaction that has ended, not
// the next transaction id: a transaction that took its id after the
// newest one to commit lies at or above it while it runs. Here tx2 takes
// its transaction id after tx1, a change id between two of tx1's, and
// stays open after tx1 commits. A private server, so that no other
// transaction ends meanwhile and moves xmax past tx2.
func TestWatchWaitsForTransactionAboveSnapshotXmax(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	dsn := c.PrimaryDSN()
	appID := conformance.NewAppID()
	store := openStore(t, postgres.Open(dsn), appID)
	f := newPostgresFeed(t, appID, dsn, dsn)
	ctx := t.Context()
	tx1 := begin(t, f)
	tx2 := begin(t, f)
	f.exec(t, tx1, "a", 1) // change 1
	f.exec(t, tx2, "b", 1) // change 2, tx2's transaction id above tx1's
	f.exec(t, tx1, "a", 2) // change 3
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	var snapshot string
	if err := f.check.QueryRowContext(ctx, "SELECT txid_current_snapshot()::text").Scan(&snapshot); err != nil {
		t.Fatal(err)
	}
	t.Logf("tx2 open; snapshot %s", snapshot)
	checkHeldBack(t, store, f, tx2, 1)
}

// TestWatchWaitsForTransactionInnoDBTrxHides: on MySQL and MariaDB,
// information_schema.innodb_trx is a copy of InnoDB's transactions that is
// refreshed only when nobody has read it for 100 ms: while another session
// reads it more often, it lists the transactions of an earlier moment, and
// leaves out those that began since. Here such a session runs while tx1
// takes change 1 and stays open, and change 2 commits.
func TestWatchWaitsForTransactionInnoDBTrxHides(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	appID := conformance.NewAppID()
	store := openStore(t, mysql.Open(dsn), appID)
	f := newMySQLFeed(t, appID, dsn, dsn)
	// A monitor reading innodb_trx every 20 ms, from before tx1 begins.
	rctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	reads := make(chan struct{}, 1)
	wg.Go(func() {
		for rctx.Err() == nil {
			var n int
			if err := f.check.QueryRowContext(rctx, "SELECT COUNT(*) FROM information_schema.innodb_trx").Scan(&n); err == nil {
				select {
				case reads <- struct{}{}:
				default:
				}
			}
			_ = sleepCtx(rctx, 20*time.Millisecond)
		}
	})
	<-reads
	tx1 := begin(t, f)
	f.exec(t, tx1, "a", 1)       // change 1
	f.exec(t, f.writers, "b", 1) // change 2, committed
	var listed int
	if err := f.check.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.innodb_trx").Scan(&listed); err != nil {
		t.Fatal(err)
	}
	t.Logf("tx1 open; innodb_trx lists %d transactions", listed)
	checkHeldBack(t, store, f, tx1, 0)
}

func begin(t *testing.T, f *feed) *sql.Tx {
	t.Helper()
	tx, err := f.writers.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

// exec inserts the history record of inv at ts through db.
func (f *feed) exec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, inv string, ts int64) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), f.insert, inv, ts, "RUNNING", `{"runner_context_id": "r"}`); err != nil {
		t.Fatal(err)
	}
}

// checkHeldBack checks, with open holding a change id below a committed
// one, that LatestChange waits for open, and that a following watch from
// the oldest change delivers every change once open has committed,
// including open's, which it must have held the committed ones after it
// back for.
func checkHeldBack(t *testing.T, store *statebackend.Store, f *feed, open *sql.Tx, deliverable int) {
	t.Helper()
	ctx := t.Context()

	var mu sync.Mutex
	var got []state.Change
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for ch, err := range store.Watch(wctx, state.WatchRequest{Follow: true, PollInterval: 5 * time.Millisecond}) {
			if err != nil {
				if wctx.Err() == nil {
					done <- err
				}
				return
			}
			mu.Lock()
			got = append(got, ch)
			mu.Unlock()
		}
	}()
	defer func() { stop(); <-done }()
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, ch := range got {
			out = append(out, fmt.Sprintf("%s:%s", ch.InvocationID, ch.Cursor))
		}
		return out
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	latest, err := store.LatestChange(lctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LatestChange with a transaction in flight below the newest change: %q, %v; want it to wait for the transaction", latest, err)
	}
	// The watch delivers the changes below open's at once; give it two
	// seconds to deliver one above (a slow machine may let a watch that
	// does not hold them back go unnoticed here, never the reverse).
	window := time.NewTimer(2 * time.Second)
	defer window.Stop()
wait:
	for len(received()) <= deliverable {
		select {
		case <-window.C:
			break wait
		case <-time.After(poll.Interval):
		}
	}
	if got := received(); len(got) > deliverable {
		t.Errorf("with the transaction of a change in flight, the watch delivered %v; want at most the %d changes below it", got, deliverable)
	}
	if err := open.Commit(); err != nil {
		t.Fatal(err)
	}
	f.exec(t, f.writers, "marker", 1)
	err = poll.Until(ctx, "the watch delivered the marker", func(context.Context) error {
		for _, r := range received() {
			if strings.HasPrefix(r, "marker:") {
				return nil
			}
		}
		return fmt.Errorf("received %v", received())
	})
	if err != nil {
		t.Fatal(err)
	}
	inDB := f.read(t)
	want := 0
	for _, ts := range inDB {
		want += len(ts)
	}
	if got := received(); len(got) != want {
		t.Fatalf("the watch delivered %v; the database holds %d changes: %v", got, want, inDB)
	}
	select {
	case err := <-done:
		t.Fatalf("the watch ended: %v", err)
	default:
	}
}
