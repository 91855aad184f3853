package scaleout_test

// Reading from replicas, against a real Postgres primary with a streaming
// replica (conformance/pgreplicatest): the conformance suite through
// backends that read from the replica, and the replica paused, lagging,
// stopped and restarted under them.

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/pgreplicatest"
	"github.com/taskstate/statebackend/postgres"
)

// openReplicated opens a backend for appID on c's primary that reads from
// c's replica, and closes it when t ends.
func openReplicated(t testing.TB, c *pgreplicatest.Cluster, appID string, settings statebackend.ReplicaSettings, opts ...statebackend.Option) *statebackend.Store {
	t.Helper()
	opts = append([]statebackend.Option{
		statebackend.WithAppID(appID),
		statebackend.WithReadReplicas(postgres.Open(c.ReplicaDSN())),
		statebackend.WithReplicaSettings(settings),
	}, opts...)
	b, err := statebackend.Open(postgres.Open(c.PrimaryDSN()), opts...)
	if err != nil {
		t.Fatalf("open app %q with a read replica: %v", appID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// openPrimary opens a backend for appID on c's primary alone.
func openPrimary(t testing.TB, c *pgreplicatest.Cluster, appID string) *statebackend.Store {
	t.Helper()
	b, err := statebackend.Open(postgres.Open(c.PrimaryDSN()), statebackend.WithAppID(appID))
	if err != nil {
		t.Fatalf("open app %q on the primary: %v", appID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestPostgresReplicas runs the conformance suite through backends that
// read from a streaming replica. The backends of one test share a write
// clock, so each reads the writes of the others as its own (the suite
// writes through one backend and reads through another); a short check
// interval sends reads to the replica soon after writes. The test fails
// unless the replica served some of the suite's reads.
func TestPostgresReplicas(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Shared(t)
	var clocks sync.Map // testing.TB -> *statebackend.WriteClock
	var replicaReads, backends atomic.Int64
	h := conformance.Harness{Open: func(tb testing.TB, appID string) statebackend.Backend {
		clock, _ := clocks.LoadOrStore(tb, statebackend.NewWriteClock())
		b := openReplicated(tb, c, appID, statebackend.ReplicaSettings{
			CheckInterval: 20 * time.Millisecond,
			Clock:         clock.(*statebackend.WriteClock),
		})
		backends.Add(1)
		tb.Cleanup(func() { // runs before openReplicated's Close
			st, err := b.Replicas(context.Background())
			if err == nil && len(st) == 1 {
				replicaReads.Add(st[0].Reads)
			}
		})
		return b
	}}
	conformance.Run(t, h)
	t.Logf("%d backends; the replica served %d reads", backends.Load(), replicaReads.Load())
	if !t.Failed() && backends.Load() > 0 && replicaReads.Load() == 0 {
		t.Error("the replica served none of the suite's reads")
	}
}

// record is a history record of invocation id at base+i seconds.
func record(id string, i int) statebackend.InvocationHistory {
	at := time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC)
	return statebackend.InvocationHistory{
		InvocationID: statebackend.InvocationID(id),
		Timestamp:    at,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, RunnerID: "r", Timestamp: at},
	}
}

// addRecord adds record(id, i) through b.
func addRecord(t *testing.T, b statebackend.Backend, id string, i int) {
	t.Helper()
	if err := b.AddHistory(t.Context(), []statebackend.InvocationID{statebackend.InvocationID(id)}, record(id, i)); err != nil {
		t.Fatalf("AddHistory(%s): %v", id, err)
	}
}

// rangeIDs returns the invocation ids of the history records b's
// HistoryInTimeRange yields for the whole day of record, batch by batch.
func rangeIDs(t *testing.T, b statebackend.Backend, batch int) []string {
	t.Helper()
	lo := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for page, err := range b.HistoryInTimeRange(t.Context(), lo, lo.Add(24*time.Hour), batch) {
		if err != nil {
			t.Fatalf("HistoryInTimeRange: %v", err)
		}
		for _, h := range page {
			ids = append(ids, string(h.InvocationID))
		}
	}
	return ids
}

// status returns the status of b's only replica, checked now.
func status(t *testing.T, b *statebackend.Store) statebackend.ReplicaStatus {
	t.Helper()
	st, err := b.Replicas(t.Context())
	if err != nil {
		t.Fatalf("Store.Replicas: %v", err)
	}
	if len(st) != 1 {
		t.Fatalf("Store.Replicas: %d statuses, want 1", len(st))
	}
	return st[0]
}

// waitTimeout bounds the waits for a state of the servers or of the
// backends' replica checks: generous, for a machine short of CPU; a
// passing test waits only as long as it must.
const waitTimeout = 2 * time.Minute

// waitStatus polls b's replica until ok holds, failing t after
// waitTimeout; it returns the status that satisfied ok.
func waitStatus(t *testing.T, b *statebackend.Store, what string, ok func(statebackend.ReplicaStatus) bool) statebackend.ReplicaStatus {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := status(t, b)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not %s after %v: %+v", what, waitTimeout, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// caughtUpAt polls b's replica until a check finds it has replayed
// everything the primary had written, and returns a time before that
// check began: the replica has reached the primary's position as of the
// returned time at least.
func caughtUpAt(t *testing.T, b *statebackend.Store) time.Time {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		before := time.Now()
		st := status(t, b)
		if st.Behind == 0 && st.Err == nil {
			return before
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not caught up after %v: %+v", waitTimeout, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readFromReplica reads the day's records through b, failing t unless
// they are want, until the replica serves the read (under waitTimeout). A
// replica in service drops out when its checks fall behind its lag bound,
// as a starved machine can make them: one read through a replica that
// was serving a moment ago may still go to the primary.
func readFromReplica(t *testing.T, b *statebackend.Store, what string, want []string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		waitStatus(t, b, "serving ("+what+")", func(st statebackend.ReplicaStatus) bool { return st.Serving })
		before := readsOf(t, b)
		if got := rangeIDs(t, b, 10); !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
		if readsOf(t, b) != before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the caught-up replica served none of the reads for %v", what, waitTimeout)
		}
	}
}

// readsOf returns how many reads b's replica has served.
func readsOf(t *testing.T, b *statebackend.Store) int64 { t.Helper(); return status(t, b).Reads }

// TestPostgresReplicaLag pauses the replica's replay and checks what
// backends reading from it see: a replica within the lag bound serves
// reads (and misses what the primary wrote since the pause), a backend
// reads its own writes, a time-range iteration that started on the
// primary does not move to the lagging replica, the lag shows in
// Store.Replicas and the log, and once it passes the bound reads go to the
// primary and see everything.
func TestPostgresReplicaLag(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	app := conformance.NewAppID()
	writer := openPrimary(t, c, app)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	// patient tolerates an hour of lag: the paused replica keeps serving it.
	patient := openReplicated(t, c, app, statebackend.ReplicaSettings{MaxLag: time.Hour, CheckInterval: 20 * time.Millisecond})
	const maxLag, interval = 2 * time.Second, 50 * time.Millisecond
	strict := openReplicated(t, c, app, statebackend.ReplicaSettings{MaxLag: maxLag, CheckInterval: interval},
		statebackend.WithLogger(logger))

	addRecord(t, writer, "before-pause", 1)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*statebackend.Store{patient, strict} {
		// Both read the record from the replica once they know it caught up.
		readFromReplica(t, b, "before the pause", []string{"before-pause"})
	}

	// However late the strict backend's checks run on a loaded machine, the
	// lag it measures runs from a moment the replica was known to have
	// reached, no earlier than caughtUp.
	caughtUp := caughtUpAt(t, strict)
	pausing := time.Now()
	c.PauseReplay(t)
	addRecord(t, writer, "while-paused", 2)

	// The paused replica is within the patient backend's bound: it serves
	// the read, which misses the new record.
	before := readsOf(t, patient)
	if got := rangeIDs(t, patient, 10); !slices.Equal(got, []string{"before-pause"}) {
		t.Fatalf("through the paused replica: got %v, want the records before the pause", got)
	}
	if readsOf(t, patient) == before {
		t.Fatal("the paused replica, within the lag bound, served no read")
	}

	// A backend reads its own writes: the patient backend's write is not on
	// the replica, so its reads go to the primary, page by page: pages of
	// one record, the first from the primary, and none may move to the
	// replica, which lacks the later records.
	addRecord(t, patient, "own-write", 3)
	before = readsOf(t, patient)
	if got, want := rangeIDs(t, patient, 1), []string{"before-pause", "while-paused", "own-write"}; !slices.Equal(got, want) {
		t.Fatalf("after its own write, one record a page: got %v, want %v", got, want)
	}
	if after := readsOf(t, patient); after != before {
		t.Fatalf("the paused replica served %d pages of an iteration that began on the primary", after-before)
	}

	// The lag grows past the strict backend's bound; its reads then go to
	// the primary and see everything.
	var seen []time.Duration
	st := waitStatus(t, strict, "lagging", func(st statebackend.ReplicaStatus) bool {
		seen = append(seen, st.Lag)
		return !st.Serving
	})
	t.Logf("lag reported while replay is paused (%d checks over %v): first %v, last %v, behind %d bytes",
		len(seen), time.Since(pausing).Round(time.Millisecond), seen[0].Round(time.Millisecond), st.Lag.Round(time.Millisecond), st.Behind)
	// Lag is as of the check; Serving as of the status, a moment later.
	if st.Lag+time.Since(st.CheckedAt) <= maxLag || st.Behind <= 0 || st.Err != nil {
		t.Fatalf("a replica out of service for lag: %+v, want Lag past %v, Behind > 0, no error", st, maxLag)
	}
	if since := time.Since(caughtUp); since <= maxLag {
		t.Fatalf("replica out of service %v after a check found it caught up, before its lag could pass %v", since, maxLag)
	}
	before = readsOf(t, strict)
	if got, want := rangeIDs(t, strict, 10), []string{"before-pause", "while-paused", "own-write"}; !slices.Equal(got, want) {
		t.Fatalf("with the replica past the lag bound: got %v, want %v", got, want)
	}
	if readsOf(t, strict) != before {
		t.Fatal("a replica past the lag bound served a read")
	}
	if !strings.Contains(logs.String(), "replica behind the maximum lag") {
		t.Errorf("no log line about the lagging replica:\n%s", logs.String())
	}

	c.ResumeReplay(t)
	st = waitStatus(t, strict, "serving again", func(st statebackend.ReplicaStatus) bool { return st.Serving })
	t.Logf("after resuming: lag %v, behind %d bytes", st.Lag.Round(time.Millisecond), st.Behind)
	readFromReplica(t, strict, "after resuming", []string{"before-pause", "while-paused", "own-write"})
	if !strings.Contains(logs.String(), "replica serving reads") {
		t.Errorf("no log line about the replica serving again:\n%s", logs.String())
	}
}

// TestPostgresReplicaStopped stops the replica under two backends: one
// that learns it only when a read fails on it (its checks are an hour
// apart), one whose checks find it first. Neither returns an error, both
// read fresh data from the primary, and both use the replica again once it
// is back.
func TestPostgresReplicaStopped(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	app := conformance.NewAppID()
	writer := openPrimary(t, c, app)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	unaware := openReplicated(t, c, app, statebackend.ReplicaSettings{MaxLag: 2 * time.Hour, CheckInterval: time.Hour},
		statebackend.WithLogger(logger))
	watching := openReplicated(t, c, app, statebackend.ReplicaSettings{CheckInterval: 20 * time.Millisecond})

	addRecord(t, writer, "before-stop", 1)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Both serve from the replica before it stops (the unaware backend
	// checked at Open; its check now is the last for an hour).
	for _, b := range []*statebackend.Store{unaware, watching} {
		waitStatus(t, b, "serving", func(st statebackend.ReplicaStatus) bool { return st.Serving })
		if got := rangeIDs(t, b, 10); !slices.Equal(got, []string{"before-stop"}) {
			t.Fatalf("before the stop: got %v", got)
		}
	}
	readsBefore := readsOf(t, unaware)

	c.StopReplica(t)
	addRecord(t, writer, "while-stopped", 2)
	want := []string{"before-stop", "while-stopped"}

	// The unaware backend still takes the replica for serving: its reads
	// fail there and are served by the primary, with no error.
	if got := rangeIDs(t, unaware, 1); !slices.Equal(got, want) {
		t.Fatalf("unaware backend, replica stopped: got %v, want %v", got, want)
	}
	types, err := unaware.WorkflowTypes(t.Context())
	if err != nil || len(types) != 0 {
		t.Fatalf("unaware backend, replica stopped: WorkflowTypes = %v, %v; want none, no error", types, err)
	}
	if _, err := unaware.DiscoverAppInfos(t.Context()); err != nil {
		t.Fatalf("unaware backend, replica stopped: DiscoverAppInfos: %v", err)
	}
	if !strings.Contains(logs.String(), "read failed on a replica") {
		t.Errorf("no log line about the failed replica read:\n%s", logs.String())
	}
	st := status(t, unaware)
	if st.Serving || st.Err == nil || st.Reads != readsBefore {
		t.Fatalf("unaware backend's replica after failed reads: %+v, want not serving, an error, %d reads", st, readsBefore)
	}
	t.Logf("a stopped replica's status: %v", st.Err)

	// The watching backend's checks find the replica gone.
	waitStatus(t, watching, "unavailable", func(st statebackend.ReplicaStatus) bool { return !st.Serving && st.Err != nil })
	if got := rangeIDs(t, watching, 1); !slices.Equal(got, want) {
		t.Fatalf("watching backend, replica stopped: got %v, want %v", got, want)
	}

	c.StartReplica(t)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*statebackend.Store{"unaware": unaware, "watching": watching} {
		readFromReplica(t, b, name+" backend after the restart", want)
	}
}

// TestReplicaGoroutinesStopAtClose checks that Close stops the backend's
// replica checks and closes its pools: the goroutines of both that Open
// started are gone after Close. Goroutines are told apart by their ids,
// which Go never reuses: those of pools closed before Open (the fixture's,
// another test's) may still be on their way out while it runs.
func TestReplicaGoroutinesStopAtClose(t *testing.T) {
	c := pgreplicatest.Shared(t)
	const checker, opener = "internal/replicas.(*Set).start", "database/sql.(*DB).connectionOpener"
	before := goroutines(checker, opener)
	b, err := statebackend.Open(postgres.Open(c.PrimaryDSN()), statebackend.WithAppID(conformance.NewAppID()),
		statebackend.WithReadReplicas(postgres.Open(c.ReplicaDSN()), postgres.Open(c.ReplicaDSN())),
		statebackend.WithReplicaSettings(statebackend.ReplicaSettings{CheckInterval: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	started := map[string][]int{}
	for f, ids := range goroutines(checker, opener) {
		for _, id := range ids {
			if !slices.Contains(before[f], id) {
				started[f] = append(started[f], id)
			}
		}
	}
	if len(started[checker]) != 1 || len(started[opener]) != 3 {
		t.Fatalf("goroutines Open started: %v; want one checker and three pools", started)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		var left []int
		now := goroutines(checker, opener)
		for f, ids := range started {
			for _, id := range ids {
				if slices.Contains(now[f], id) {
					left = append(left, id)
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after Close, goroutines %v that Open started are still there", waitTimeout, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goroutines returns the ids of the goroutines whose stack holds each of
// the functions.
func goroutines(funcs ...string) map[string][]int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ids := map[string][]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 123 [select]:"
		var id int
		if _, err := fmt.Sscanf(g, "goroutine %d ", &id); err != nil {
			continue
		}
		for _, f := range funcs {
			if strings.Contains(g, f) {
				ids[f] = append(ids[f], id)
			}
		}
	}
	return ids
}
