package statebackend_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/sqlite"
)

// TestGroupCommitIsolatesFailures checks that when writes share a
// transaction and one fails, the others still commit and only the failing
// caller sees an error.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "gc.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b := statebackend.Inside(be)
	if !b.HasCommitter() {
		t.Fatal("SQLite backend has no group committer")
	}
	ctx := context.Background()
	errBoom := errors.New("boom")
	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("inv-%02d", i)
			// Writes must be atomic on their own (every Backend write is);
			// this one fails after writing, inside its own transaction.
			errs[i] = b.Write(ctx, "SetResult", func(db *gorm.DB) error {
				return db.Transaction(func(tx *gorm.DB) error {
					row := entities.Result{InvocationID: entities.Key(id), ResultData: []byte(id)}
					if err := b.Repo().SetResult(tx, row); err != nil {
						return err
					}
					if i%7 == 3 {
						return errBoom
					}
					return nil
				})
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		id := fmt.Sprintf("inv-%02d", i)
		data, resErr := be.Result(ctx, statebackend.InvocationID(id))
		if i%7 == 3 {
			if !errors.Is(err, errBoom) {
				t.Errorf("writer %d: got %v, want boom", i, err)
			}
			if !errors.Is(resErr, statebackend.ErrNotFound) {
				t.Errorf("writer %d failed but its write is visible: %q, %v", i, data, resErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: unexpected error %v", i, err)
		}
		if resErr != nil || string(data) != id {
			t.Errorf("writer %d: result %q, %v", i, data, resErr)
		}
	}
}

// TestGroupCommitSkipsCancelled checks that a queued write whose context is
// cancelled is not run.
func TestGroupCommitSkipsCancelled(t *testing.T) {
	t.Parallel()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "gc.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b := statebackend.Inside(be)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err = b.CommitterDo(ctx, "SetResult", func(*gorm.DB) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled write: err %v, ran %v", err, ran)
	}
	var n int64
	if err := b.DB().Model(&entities.Result{}).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("rows %d, %v", n, err)
	}
}

// openCommitter opens a SQLite backend for the group-commit tests.
func openCommitter(t *testing.T) (*statebackend.Store, interface {
	Write(context.Context, string, func(*gorm.DB) error) error
	Queued() int
	Repo() repository.Repo
}) {
	t.Helper()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "gc.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
	return be, statebackend.Inside(be)
}

// setResult returns a write storing id's result, calling hook first.
func setResult(b interface{ Repo() repository.Repo }, id string, hook func()) func(*gorm.DB) error {
	return func(db *gorm.DB) error {
		hook()
		return b.Repo().SetResult(db, entities.Result{InvocationID: entities.Key(id), ResultData: []byte(id)})
	}
}

// waitQueuedOr polls until n writes are queued, failing t if the call
// whose outcome comes on returned (when not nil) returns first: a call
// refused before it queues would never be counted.
func waitQueuedOr(t *testing.T, b interface{ Queued() int }, n int, returned <-chan error) {
	t.Helper()
	deadline := time.Now().Add(poll.Timeout)
	for b.Queued() < n {
		select {
		case err := <-returned:
			t.Fatalf("a write returned before it was queued: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", b.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkResults fails t unless exactly the ids in want have a result.
func checkResults(t *testing.T, be statebackend.Backend, want map[string]bool) {
	t.Helper()
	for id, present := range want {
		_, err := be.Result(context.Background(), statebackend.InvocationID(id))
		if present && err != nil {
			t.Errorf("%s: %v, want it committed", id, err)
		}
		if !present && !errors.Is(err, statebackend.ErrNotFound) {
			t.Errorf("%s: %v, want it not committed", id, err)
		}
	}
}

// The tests of callers leaving at their deadline run in a synctest bubble:
// its clock advances only when every goroutine of the test is blocked, so
// a deadline passes exactly where the test waits for it (a write blocked
// in the queue, a shared transaction held open), never earlier because
// the machine was slow to set the scene. Each write the caller waits
// behind is held until the caller has returned: returning at all proves
// it left at its deadline.

// TestGroupCommitWaiterLeavesAtItsDeadline checks that a write queued
// behind a long one returns at its own deadline, with the op prefix and
// the context's error, and is skipped: it never runs.
func TestGroupCommitWaiterLeavesAtItsDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be, b := openCommitter(t)
		ctx := context.Background()
		started, release := make(chan struct{}), make(chan struct{})
		leader := make(chan error, 1)
		go func() {
			leader <- b.Write(ctx, "SetResult", setResult(b, "long", func() { close(started); <-release }))
		}()
		<-started

		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		var ran atomic.Bool
		queued := make(chan error, 1)
		go func() {
			queued <- b.Write(wctx, "UpsertInvocations", setResult(b, "queued", func() { ran.Store(true) }))
		}()
		waitQueuedOr(t, b, 1, queued)
		// The long write holds the committer until the queued one has
		// returned.
		err := <-queued
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "statebackend: UpsertInvocations: ") {
			t.Errorf("queued write: %v, want statebackend: UpsertInvocations: ... wrapping context.DeadlineExceeded", err)
		}
		close(release)
		if err := <-leader; err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Error("the queued write ran after its caller left")
		}
		// The committer goes on.
		if err := b.Write(ctx, "SetResult", setResult(b, "after", func() {})); err != nil {
			t.Fatal(err)
		}
		checkResults(t, be, map[string]bool{"long": true, "queued": false, "after": true})
	})
}

// TestGroupCommitLeaverInsideSharedTransaction checks the documented
// outcome for a write whose deadline passes while it is inside a shared
// transaction: its caller returns at the deadline with the context's
// error, the transaction does not commit it, and the other writes of the
// group are committed (the group is run again without it).
func TestGroupCommitLeaverInsideSharedTransaction(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be, b := openCommitter(t)
		ctx := context.Background()
		started, release := make(chan struct{}), make(chan struct{})
		leader := make(chan error, 1)
		go func() {
			leader <- b.Write(ctx, "SetResult", setResult(b, "first", func() { close(started); <-release }))
		}()
		<-started

		// Queue a (no deadline), then b (deadline), then c, which blocks the
		// shared transaction after b's statements have run, until b has
		// left.
		errA, errC := make(chan error, 1), make(chan error, 1)
		go func() { errA <- b.Write(ctx, "SetResult", setResult(b, "a", func() {})) }()
		waitQueuedOr(t, b, 1, errA)
		bctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		errB := make(chan error, 1)
		var bRuns atomic.Int32
		go func() { errB <- b.Write(bctx, "SetException", setResult(b, "b", func() { bRuns.Add(1) })) }()
		waitQueuedOr(t, b, 2, errB)
		cBlocked, cRelease := make(chan struct{}), make(chan struct{})
		var cRuns atomic.Int32
		go func() {
			errC <- b.Write(ctx, "SetResult", setResult(b, "c", func() {
				if cRuns.Add(1) == 1 {
					close(cBlocked)
					<-cRelease
				}
			}))
		}()
		waitQueuedOr(t, b, 3, errC)
		close(release)
		<-cBlocked // a and b ran in the shared transaction; c holds it open

		err := <-errB
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "statebackend: SetException: ") {
			t.Errorf("b: %v, want statebackend: SetException: ... wrapping context.DeadlineExceeded", err)
		}
		if bRuns.Load() != 1 {
			t.Errorf("b ran %d times before its deadline, want once (inside the shared transaction)", bRuns.Load())
		}
		close(cRelease)
		for name, ch := range map[string]chan error{"first": leader, "a": errA, "c": errC} {
			if err := <-ch; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if cRuns.Load() != 2 {
			t.Errorf("c ran %d times, want 2 (the group ran again without b)", cRuns.Load())
		}
		checkResults(t, be, map[string]bool{"first": true, "a": true, "b": false, "c": true})
	})
}

// queueHistory starts AddHistory of one record for each of ids, one call
// per id from its own goroutine, once each call before it is queued in
// the group committer, and returns the calls' errors by id.
func queueHistory(t *testing.T, be *statebackend.Store, b interface{ Queued() int }, ctxOf func(id string) context.Context, ids ...string) map[string]chan error {
	t.Helper()
	errs := map[string]chan error{}
	for i, id := range ids {
		ch := make(chan error, 1)
		errs[id] = ch
		at := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		h := statebackend.InvocationHistory{
			Timestamp:    at,
			StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: at},
		}
		go func() { ch <- be.AddHistory(ctxOf(id), []statebackend.InvocationID{statebackend.InvocationID(id)}, h) }()
		waitQueuedOr(t, b, i+1, ch)
	}
	return errs
}

// checkHistoryOf fails t unless each id in want has exactly the given
// number of history records.
func checkHistoryOf(t *testing.T, be statebackend.Backend, want map[string]int) {
	t.Helper()
	for id, n := range want {
		hs, err := be.History(context.Background(), statebackend.InvocationID(id))
		if err != nil || len(hs) != n {
			t.Errorf("history of %s: %d records, %v; want %d", id, len(hs), err, n)
		}
	}
}

// TestGroupCommitMergesHistoryKeepingOutcomes checks that the AddHistory
// writes of a commit group go into one insert, and that a write the
// database refuses fails only its own caller: the group is run again one
// write at a time.
func TestGroupCommitMergesHistoryKeepingOutcomes(t *testing.T) {
	t.Parallel()
	be, b := openCommitter(t)
	in := statebackend.Inside(be)
	ctx := context.Background()
	// The database refuses history for invocation "poison".
	table := b.Repo().Tables.Name("History")
	if err := in.DB().Exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON "` + table + `"
		WHEN NEW.invocation_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END`).Error; err != nil {
		t.Fatal(err)
	}

	// A group of eight good writes: one statement.
	started, release := make(chan struct{}), make(chan struct{})
	leader := make(chan error, 1)
	go func() {
		leader <- b.Write(ctx, "SetResult", setResult(b, "first", func() { close(started); <-release }))
	}()
	<-started
	good := []string{"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"}
	errs := queueHistory(t, be, b, func(string) context.Context { return ctx }, good...)
	close(release)
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	for id, ch := range errs {
		if err := <-ch; err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if got := in.Merged(); got != int64(len(good)) {
		t.Fatalf("%d writes merged, want %d", got, len(good))
	}

	// A group with a write the database refuses among good ones.
	started, release = make(chan struct{}), make(chan struct{})
	go func() {
		leader <- b.Write(ctx, "SetResult", setResult(b, "second", func() { close(started); <-release }))
	}()
	<-started
	errs = queueHistory(t, be, b, func(string) context.Context { return ctx }, "m0", "m1", "poison", "m2")
	close(release)
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	for id, ch := range errs {
		err := <-ch
		switch {
		case id == "poison" && (err == nil || !strings.Contains(err.Error(), "poison refused") || !strings.HasPrefix(err.Error(), "statebackend: AddHistory: ")):
			t.Errorf("poison: %v, want statebackend: AddHistory: ... poison refused", err)
		case id != "poison" && err != nil:
			t.Errorf("%s failed with the poisoned write: %v", id, err)
		}
	}
	checkHistoryOf(t, be, map[string]int{"g0": 1, "g7": 1, "m0": 1, "m1": 1, "m2": 1, "poison": 0})
}

// TestGroupCommitMergedHistoryLeaver checks that a caller whose deadline
// passes while its merged history insert waits in the group's open
// transaction gets its context's error, and its record is not committed;
// the other writes of the group are.
func TestGroupCommitMergedHistoryLeaver(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be, b := openCommitter(t)
		in := statebackend.Inside(be)
		ctx := context.Background()
		started, release := make(chan struct{}), make(chan struct{})
		leader := make(chan error, 1)
		go func() {
			leader <- b.Write(ctx, "SetResult", setResult(b, "first", func() { close(started); <-release }))
		}()
		<-started
		lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		errs := queueHistory(t, be, b, func(id string) context.Context {
			if id == "leaver" {
				return lctx
			}
			return ctx
		}, "h0", "leaver", "h1")
		// A write after the merged ones holds the group's transaction open
		// until the leaver has returned.
		blocked, unblock := make(chan struct{}), make(chan struct{})
		var runs atomic.Int32
		last := make(chan error, 1)
		go func() {
			last <- b.Write(ctx, "SetResult", setResult(b, "last", func() {
				if runs.Add(1) == 1 {
					close(blocked)
					<-unblock
				}
			}))
		}()
		waitQueuedOr(t, b, 4, last)
		close(release)
		<-blocked
		err := <-errs["leaver"]
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "statebackend: AddHistory: ") {
			t.Errorf("leaver: %v, want statebackend: AddHistory: ... wrapping context.DeadlineExceeded", err)
		}
		close(unblock)
		for name, ch := range map[string]chan error{"first": leader, "h0": errs["h0"], "h1": errs["h1"], "last": last} {
			if err := <-ch; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if in.Merged() < 3 {
			t.Errorf("%d writes merged, want the three history writes merged at first", in.Merged())
		}
		checkHistoryOf(t, be, map[string]int{"h0": 1, "h1": 1, "leaver": 0})
		checkResults(t, be, map[string]bool{"first": true, "last": true})
	})
}

// TestSQLiteOneConnectionPool checks that a SQLite backend limited to one
// connection works: writes that share a transaction, writes of several
// statements and reads, each under a deadline, none waiting for a second
// connection (preparing a statement inside a transaction would).
func TestSQLiteOneConnectionPool(t *testing.T) {
	t.Parallel()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "one.db")),
		statebackend.WithPool(statebackend.Pool{MaxOpenConns: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task := statebackend.TaskID{Module: "m", FuncName: "f"}
	invs := make([]statebackend.Invocation, 600) // several statements: one transaction
	for i := range invs {
		id := statebackend.InvocationID(fmt.Sprintf("inv-%03d", i))
		invs[i] = statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: "a"},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}
	}
	if err := be.UpsertInvocations(ctx, invs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				at := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
				h := statebackend.InvocationHistory{Timestamp: at,
					StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: at}}
				if err := be.AddHistory(ctx, []statebackend.InvocationID{invs[w].ID}, h); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
		if hs, err := be.History(ctx, invs[w].ID); err != nil || len(hs) != 20 {
			t.Fatalf("history of %s: %d records, %v", invs[w].ID, len(hs), err)
		}
	}
}
