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

// checkDeadlineError fails t unless err is what a call named op returns
// when its context's deadline passes: the op prefix, wrapping
// context.DeadlineExceeded. It returns how long after its deadline the
// call returned, for the log.
//
// The tests prove that a call left at its deadline by what still stood in
// its way when it returned (a lock still held, a write still running, a
// server still silent), not by timing it: a machine short of CPU delays
// any wake-up by any amount. BenchmarkSQLiteDeadlineOvershoot measures
// how late calls return.
func checkDeadlineError(t *testing.T, op string, err error, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: got %v, want an error wrapping context.DeadlineExceeded", op, err)
	} else if prefix := "statebackend: " + op + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s: error %q does not start with %q", op, err, prefix)
	}
	return time.Since(start) - timeout
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

	// Opening finds the schema complete without taking the write lock,
	// which the other process holds until told otherwise: an Open that
	// needed it would fail once it gave up waiting.
	second, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatalf("open while another process holds the lock: %v", err)
	}
	second.Close()

	// Every call below returns while the other process holds the lock.
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
// error, while the large upsert runs; that none of those is committed
// (none was started); and that the large upsert completes.
//
// The small writes begin once the large one holds the file's write lock,
// so they queue behind it rather than run first; a small write counts if
// the large one was still uncommitted when it returned (the committer
// starts a queued write only after the one before has committed). The
// small write in flight when the large one commits may wait for it, or be
// committed as its deadline passes (the outcome of a failed call): the
// test only logs it.
func TestSQLiteWriteQueuedBehindLargeUpsert(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queued.db")
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	large := writeOps(20_000)[0]
	small := writeOps(1)[0]
	var largeErr error
	largeDone := make(chan struct{})
	go func() {
		defer close(largeDone)
		largeErr = large.write(ctx, b, "large")
	}()
	// failed fails t if the large upsert has returned an error.
	failed := func() {
		select {
		case <-largeDone:
			if largeErr != nil {
				t.Fatalf("large upsert: %v", largeErr)
			}
		default:
		}
	}
	committed := func() bool {
		_, err := b.Invocation(ctx, "large-0000")
		if err != nil && !errors.Is(err, statebackend.ErrNotFound) {
			t.Fatalf("read the large upsert's first row: %v", err)
		}
		return err == nil
	}
	for !writeLocked(t, path) {
		failed()
		if committed() {
			t.Fatal("the large upsert committed before it was seen holding the write lock")
		}
		time.Sleep(time.Millisecond) // polling: the large upsert ends the wait
	}

	const timeout = 200 * time.Millisecond
	var left []string // the writes that left while the large upsert was uncommitted
	var last, worst time.Duration
	for i := 0; ; i++ {
		key := fmt.Sprintf("small-%d", i)
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := small.write(cctx, b, key)
		cancel()
		failed()
		if committed() {
			last = time.Since(start)
			break
		}
		left = append(left, key)
		worst = max(worst, checkDeadlineError(t, "UpsertInvocations", err, start, timeout))
	}
	<-largeDone
	failed()
	t.Logf("%d small upserts left at their deadline while the large one ran, at worst %v past it; the last one returned after %v",
		len(left), worst.Round(time.Millisecond), last.Round(time.Millisecond))
	for _, key := range left {
		if written, err := small.state(ctx, b, key); err != nil || written {
			t.Errorf("%s left its queue at its deadline, yet written %v (%v)", key, written, err)
		}
	}
	if written, err := large.state(ctx, b, "large"); err != nil || !written {
		t.Errorf("large upsert: written %v, %v", written, err)
	}
}

// writeLocked reports whether a connection holds the write lock of the
// SQLite file at path: BEGIN IMMEDIATE, without a busy timeout, then
// fails at once. When it succeeds, the lock is released at once.
func writeLocked(t *testing.T, path string) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		if !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "busy") {
			t.Fatalf("BEGIN IMMEDIATE: %v", err)
		}
		return true
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	return false
}

// BenchmarkSQLiteDeadlineOvershoot measures how late a write returns after
// its deadline while another connection holds the SQLite file's write
// lock: the library's bound is SQLite's busy timeout (20 ms) plus the
// statement in flight; the rest is the machine's delay in waking the
// caller. It reports the mean and the worst overshoot. The tests prove
// that calls leave at their deadline; this measures how promptly.
func BenchmarkSQLiteDeadlineOvershoot(b *testing.B) {
	path := filepath.Join(b.TempDir(), "locked.db")
	be, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	lock, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		b.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(b.Context(), "BEGIN IMMEDIATE"); err != nil {
		b.Fatal(err)
	}
	op := writeOps(1)[0]
	const timeout = 20 * time.Millisecond
	var n int
	var total, worst time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), timeout)
		start := time.Now()
		err := op.write(ctx, be, fmt.Sprintf("locked-%d", n))
		over := time.Since(start) - timeout
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			b.Fatalf("write while the lock is held: %v, want context.DeadlineExceeded", err)
		}
		n++
		total += over
		worst = max(worst, over)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n), "overshoot-µs/op")
	b.ReportMetric(float64(worst.Microseconds()), "worst-overshoot-µs")
}
