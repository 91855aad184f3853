package scaleout_test

// Reading from replicas, against a real Postgres primary with a streaming
// replica (conformance/pgreplicatest): the conformance suite through
// backends that read from the replica, and the replica paused, lagging,
// stopped and restarted under them.

import (
	"context"
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

// waitStatus polls b's replica until ok holds, failing t after timeout;
// it returns the status that satisfied ok.
func waitStatus(t *testing.T, b *statebackend.Store, what string, timeout time.Duration, ok func(statebackend.ReplicaStatus) bool) statebackend.ReplicaStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := status(t, b)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not %s after %v: %+v", what, timeout, st)
		}
		time.Sleep(10 * time.Millisecond)
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
		waitStatus(t, b, "serving", 10*time.Second, func(st statebackend.ReplicaStatus) bool { return st.Serving })
		before := readsOf(t, b)
		if got := rangeIDs(t, b, 10); !slices.Equal(got, []string{"before-pause"}) {
			t.Fatalf("before the pause: got %v", got)
		}
		if readsOf(t, b) == before {
			t.Fatal("before the pause: the caught-up replica served no read")
		}
	}

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
	st := waitStatus(t, strict, "lagging", maxLag+10*time.Second, func(st statebackend.ReplicaStatus) bool {
		seen = append(seen, st.Lag)
		return !st.Serving
	})
	t.Logf("lag reported while replay is paused (%d checks over %v): first %v, last %v, behind %d bytes",
		len(seen), time.Since(pausing).Round(time.Millisecond), seen[0].Round(time.Millisecond), st.Lag.Round(time.Millisecond), st.Behind)
	// Lag is as of the check; Serving as of the status, a moment later.
	if st.Lag+time.Since(st.CheckedAt) <= maxLag || st.Behind <= 0 || st.Err != nil {
		t.Fatalf("a replica out of service for lag: %+v, want Lag past %v, Behind > 0, no error", st, maxLag)
	}
	// The last position the replica is known to have reached may have been
	// sampled up to one check before the pause.
	if time.Since(pausing) < maxLag-interval {
		t.Fatalf("replica out of service %v after the pause, before its lag could pass %v", time.Since(pausing), maxLag)
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
	st = waitStatus(t, strict, "serving again", 30*time.Second, func(st statebackend.ReplicaStatus) bool { return st.Serving })
	t.Logf("after resuming: lag %v, behind %d bytes", st.Lag.Round(time.Millisecond), st.Behind)
	before = readsOf(t, strict)
	if got, want := rangeIDs(t, strict, 10), []string{"before-pause", "while-paused", "own-write"}; !slices.Equal(got, want) {
		t.Fatalf("after resuming: got %v, want %v", got, want)
	}
	if readsOf(t, strict) == before {
		t.Fatal("after resuming, the caught-up replica served no read")
	}
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
		waitStatus(t, b, "serving", 10*time.Second, func(st statebackend.ReplicaStatus) bool { return st.Serving })
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
	waitStatus(t, watching, "unavailable", 10*time.Second, func(st statebackend.ReplicaStatus) bool { return !st.Serving && st.Err != nil })
	if got := rangeIDs(t, watching, 1); !slices.Equal(got, want) {
		t.Fatalf("watching backend, replica stopped: got %v, want %v", got, want)
	}

	c.StartReplica(t)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*statebackend.Store{"unaware": unaware, "watching": watching} {
		waitStatus(t, b, "serving after the restart", 30*time.Second, func(st statebackend.ReplicaStatus) bool { return st.Serving })
		before := readsOf(t, b)
		if got := rangeIDs(t, b, 10); !slices.Equal(got, want) {
			t.Fatalf("%s backend after the restart: got %v, want %v", name, got, want)
		}
		if readsOf(t, b) == before {
			t.Fatalf("%s backend after the restart: the replica served no read", name)
		}
	}
}

// TestReplicaGoroutinesStopAtClose checks that Close stops the backend's
// replica checks and closes its pools: the goroutines of both are gone
// after Close. It does not run in parallel, so no other backend's
// goroutines are counted.
func TestReplicaGoroutinesStopAtClose(t *testing.T) {
	c := pgreplicatest.Shared(t)
	const checker, opener = "statebackend.(*replicaSet).start", "database/sql.(*DB).connectionOpener"
	before := goroutines(checker, opener)
	b, err := statebackend.Open(postgres.Open(c.PrimaryDSN()), statebackend.WithAppID(conformance.NewAppID()),
		statebackend.WithReadReplicas(postgres.Open(c.ReplicaDSN()), postgres.Open(c.ReplicaDSN())),
		statebackend.WithReplicaSettings(statebackend.ReplicaSettings{CheckInterval: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	open := goroutines(checker, opener)
	if open[checker] != before[checker]+1 || open[opener] != before[opener]+3 {
		t.Fatalf("with the backend open: %v, before: %v; want one more checker and three more pools", open, before)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := goroutines(checker, opener)
		if after[checker] == before[checker] && after[opener] == before[opener] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after Close: %v goroutines, before Open: %v", after, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goroutines counts the goroutines whose stack holds each of the functions.
func goroutines(funcs ...string) map[string]int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				counts[f]++
			}
		}
	}
	return counts
}
