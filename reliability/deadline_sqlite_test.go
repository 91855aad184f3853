package reliability_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, for the locking child

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// deadlineSlack is how far past its deadline a call may return in these
// tests. The library's bound is tighter (SQLite's 20 ms busy timeout plus
// the statement in flight, or one network round trip); the rest is margin
// for a loaded machine, still far below the seconds a call used to
// overshoot by.
const deadlineSlack = 250 * time.Millisecond

// checkDeadlineError fails t unless err is what a call named op returns
// when its context's deadline passes: the op prefix, wrapping
// context.DeadlineExceeded, returned by deadline+deadlineSlack. It returns
// the overshoot.
func checkDeadlineError(t *testing.T, op string, err error, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	return checkDeadlineErrorWithin(t, op, err, start, timeout, deadlineSlack)
}

// checkDeadlineErrorWithin is checkDeadlineError with a slack of its own,
// for tests that keep the CPU busy while they time calls.
func checkDeadlineErrorWithin(t *testing.T, op string, err error, start time.Time, timeout, slack time.Duration) time.Duration {
	t.Helper()
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: got %v, want an error wrapping context.DeadlineExceeded", op, err)
	} else if prefix := "statebackend: " + op + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s: error %q does not start with %q", op, err, prefix)
	}
	if elapsed > timeout+slack {
		t.Errorf("%s: returned %v after its start, %v past its %v deadline", op, elapsed.Round(time.Millisecond),
			(elapsed - timeout).Round(time.Millisecond), timeout)
	}
	return elapsed - timeout
}

// TestSQLiteDeadlineWhileAnotherProcessHoldsTheLock proves that a write
// waiting for the lock another process holds (BEGIN IMMEDIATE, as the
// sqlite3 shell would) returns at its deadline, with the op prefix and
// context.DeadlineExceeded, and commits nothing; that several writers
// queued in the group committer all leave at theirs; that reads go on
// meanwhile, and opening the file does not wait for the lock; and that a
// write without a deadline waits for the lock and succeeds once it is
// released, without "database is locked".
func TestSQLiteDeadlineWhileAnotherProcessHoldsTheLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locked.db")
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	ops := writeOps(1)
	if err := preparePurge(ctx, b); err != nil {
		t.Fatal(err)
	}

	locker := startChild(ctx, t, "locker", "TestChildSQLiteLocker", "sqlite-locker", "RELIABILITY_DB="+path)
	locker.expect(t, "locked", time.Minute)

	// Opening finds the schema complete without taking the write lock.
	openStart := time.Now()
	second, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatalf("open while another process holds the lock: %v", err)
	}
	second.Close()
	if elapsed := time.Since(openStart); elapsed > 2*time.Second {
		t.Errorf("open waited %v for another process's write lock", elapsed)
	}

	const timeout = 200 * time.Millisecond
	var worst time.Duration
	for _, op := range ops {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := op.write(cctx, b, "locked-"+op.name)
		cancel()
		worst = max(worst, checkDeadlineError(t, op.name, err, start, timeout))
	}

	// Writers queued behind each other in the group committer.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 8 {
		wg.Go(func() {
			op := ops[i%len(ops)]
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := op.write(cctx, b, fmt.Sprintf("queued-%d-%s", i, op.name))
			mu.Lock()
			defer mu.Unlock()
			worst = max(worst, checkDeadlineError(t, op.name, err, start, timeout))
		})
	}
	wg.Wait()
	t.Logf("SQLite, lock held by another process: worst overshoot of a %v deadline: %v", timeout, worst.Round(time.Millisecond))

	// Reads do not wait for the writer (WAL).
	rctx, cancel := context.WithTimeout(ctx, timeout)
	if _, err := b.Result(rctx, purgeKey); err != nil {
		t.Errorf("read while another process writes: %v", err)
	}
	cancel()

	// A write without a deadline waits for the lock.
	waited := make(chan error, 1)
	go func() { waited <- ops[2].write(ctx, b, "patient") }()
	select {
	case err := <-waited:
		t.Fatalf("write without a deadline returned while the lock was held: %v", err)
	case <-time.After(300 * time.Millisecond): // it should still be waiting
	}
	if _, err := fmt.Fprintln(locker.stdin, "release"); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Errorf("write without a deadline, after the lock was released: %v", err)
	}
	if _, code := locker.wait(); code != 0 {
		t.Errorf("locker exited with %d: %s", code, locker.output())
	}
	if ok, err := ops[2].state(ctx, b, "patient"); !ok || err != nil {
		t.Errorf("write without a deadline not committed: %v, %v", ok, err)
	}

	// Nothing the failed calls tried is in the database; retried, each
	// converges to its write (see TestRetryAfterFailedCallConverges).
	for i, op := range ops {
		keys := []string{"locked-" + op.name}
		for q := range 8 {
			if q%len(ops) == i {
				keys = append(keys, fmt.Sprintf("queued-%d-%s", q, op.name))
			}
		}
		for _, key := range keys {
			written, err := op.state(ctx, b, key)
			if err != nil || written {
				t.Errorf("%s %s failed at its deadline but its write is there (%v, %v)", op.name, key, written, err)
			}
			if op.name == "Purge" {
				continue // retried below, last
			}
			if err := op.write(ctx, b, key); err != nil {
				t.Errorf("%s %s retried: %v", op.name, key, err)
			} else if written, err := op.state(ctx, b, key); err != nil || !written {
				t.Errorf("%s %s retried: written %v, %v", op.name, key, written, err)
			}
		}
	}
	purge := ops[len(ops)-1]
	if err := purge.write(ctx, b, ""); err != nil {
		t.Errorf("Purge retried: %v", err)
	} else if written, err := purge.state(ctx, b, ""); err != nil || !written {
		t.Errorf("Purge retried: purged %v, %v", written, err)
	}
}

// TestChildSQLiteLocker is the other process of
// TestSQLiteDeadlineWhileAnotherProcessHoldsTheLock: it takes the write
// lock of RELIABILITY_DB with BEGIN IMMEDIATE, says "locked", and holds
// it until its parent writes a line (or closes stdin).
func TestChildSQLiteLocker(t *testing.T) {
	childRole(t, "sqlite-locker")
	db, err := sql.Open("sqlite3", "file:"+os.Getenv("RELIABILITY_DB")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	say("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	say("released")
}

// TestSQLiteWriteQueuedBehindLargeUpsert proves that writes queued in the
// group committer behind a 20,000-row upsert of the same process leave
// at their own 200 ms deadline, with the op prefix and the context's
// error, and that most of those which left are not committed (those whose
// deadline passed during their COMMIT may be), while the large upsert
// completes. The large upsert keeps a CPU busy (much more so under
// the race detector), which delays the waiters' wake-ups on a loaded
// machine: the slack is a second, well under the large upsert's duration
// that a waiter used to wait for.
func TestSQLiteWriteQueuedBehindLargeUpsert(t *testing.T) {
	t.Parallel()
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "queued.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	large := writeOps(20_000)[0]
	small := writeOps(1)[0]
	done := make(chan error, 1)
	go func() { done <- large.write(ctx, b, "large") }()

	const timeout = 200 * time.Millisecond
	var left []string
	var worst time.Duration
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("large upsert: %v", err)
			}
			t.Logf("%d small upserts left at their deadline while the large one ran; worst overshoot %v",
				len(left), worst.Round(time.Millisecond))
			committed := 0
			for _, key := range left {
				written, err := small.state(ctx, b, key)
				if err != nil {
					t.Errorf("%s: %v", key, err)
				}
				if written {
					committed++
				}
			}
			// A deadline passing during a write's COMMIT leaves its outcome
			// open (the rule of a failed call); the group-commit tests
			// check that writes not started, or still running, are not
			// committed. Here, most writes left before they started.
			if committed > len(left)/2 {
				t.Errorf("%d of the %d writes that left at their deadline were committed", committed, len(left))
			}
			t.Logf("%d of them committed as their deadline passed", committed)
			if written, err := large.state(ctx, b, "large"); err != nil || !written {
				t.Errorf("large upsert: written %v, %v", written, err)
			}
			return
		default:
		}
		key := fmt.Sprintf("small-%d", i)
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := small.write(cctx, b, key)
		cancel()
		if err == nil {
			continue // it ran before or after the large one
		}
		left = append(left, key)
		worst = max(worst, checkDeadlineErrorWithin(t, "UpsertInvocations", err, start, timeout, time.Second))
	}
}
