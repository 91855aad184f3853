package reliability_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// pruneOld is the time of the records of finished units: far older than
// the retention the tests prune with.
var pruneOld = time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)

const pruneRetention = 24 * time.Hour

// pruneWorld is a set of workflow units written through the API: every
// fifth one live (its root still running), the others finished long ago.
type pruneWorld struct {
	eligible, live [][]statebackend.InvocationID // the ids of each unit, root first
}

// writePruneWorld writes units units of size invocations each, and the
// large ones with large invocations each, ids prefixed with prefix.
func writePruneWorld(ctx context.Context, b statebackend.Backend, prefix string, units, size int, large ...int) (*pruneWorld, error) {
	w := &pruneWorld{}
	sizes := make([]int, units)
	for i := range sizes {
		sizes[i] = size
	}
	sizes = append(sizes, large...)
	task := statebackend.TaskID{Module: "prune", FuncName: "task"}
	for u, n := range sizes {
		root := statebackend.InvocationID(fmt.Sprintf("%su%03d", prefix, u))
		wf := statebackend.WorkflowIdentity{WorkflowID: root, WorkflowType: task}
		ids := []statebackend.InvocationID{root}
		invs := []statebackend.Invocation{{ID: root, CallID: statebackend.CallID{Task: task, ArgsID: "r"}, Workflow: wf}}
		for c := 1; c < n; c++ {
			id := statebackend.InvocationID(fmt.Sprintf("%su%03d-c%03d", prefix, u, c))
			ids = append(ids, id)
			invs = append(invs, statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: "c"}, Workflow: wf, ParentInvocationID: root})
		}
		if err := b.UpsertInvocations(ctx, invs); err != nil {
			return nil, err
		}
		if err := b.StoreWorkflowRun(ctx, wf); err != nil {
			return nil, err
		}
		live := u%5 == 0
		for k, s := range []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusPending, statebackend.StatusRunning, statebackend.StatusSuccess} {
			ts := pruneOld.Add(time.Duration(u*10+k) * time.Millisecond)
			h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: s, Timestamp: ts}}
			targets := ids
			if live && s == statebackend.StatusSuccess {
				targets = ids[1:] // the root keeps running
			}
			if err := b.AddHistory(ctx, targets, h); err != nil {
				return nil, err
			}
		}
		for _, id := range ids {
			if err := b.SetResult(ctx, id, []byte("r:"+string(id))); err != nil {
				return nil, err
			}
		}
		if live {
			w.live = append(w.live, ids)
		} else {
			w.eligible = append(w.eligible, ids)
		}
	}
	return w, nil
}

// checkLive fails t unless every live unit is whole.
func (w *pruneWorld) checkLive(t *testing.T, b statebackend.Backend) {
	t.Helper()
	for _, ids := range w.live {
		for i, id := range ids {
			want := 4
			if i == 0 {
				want = 3
			}
			if _, err := b.Invocation(t.Context(), id); err != nil {
				t.Fatalf("live invocation %s: %v", id, err)
			}
			if h, err := b.History(t.Context(), id); err != nil || len(h) != want {
				t.Fatalf("live invocation %s has %d history records (%v), want %d", id, len(h), err, want)
			}
			if _, err := b.Result(t.Context(), id); err != nil {
				t.Fatalf("result of live invocation %s: %v", id, err)
			}
		}
	}
}

// checkEligible fails t unless every finished unit is gone (all true) or
// either whole or, split over batches, reduced to members that are each
// whole with the root among them (all false).
func (w *pruneWorld) checkEligible(t *testing.T, b statebackend.Backend, all bool) (gone int) {
	t.Helper()
	for _, ids := range w.eligible {
		present := 0
		for _, id := range ids {
			_, err := b.Invocation(t.Context(), id)
			h, herr := b.History(t.Context(), id)
			_, rerr := b.Result(t.Context(), id)
			switch {
			case err == nil && herr == nil && len(h) == 4 && rerr == nil:
				present++
			case errors.Is(err, statebackend.ErrNotFound) && herr == nil && len(h) == 0 && errors.Is(rerr, statebackend.ErrNotFound):
			default:
				t.Fatalf("invocation %s is half deleted: %v, %d records (%v), result %v", id, err, len(h), herr, rerr)
			}
		}
		switch {
		case present == 0:
			gone++
		case all:
			t.Fatalf("unit %s: %d of %d invocations left after a full prune", ids[0], present, len(ids))
		case present < len(ids):
			if _, err := b.Invocation(t.Context(), ids[0]); err != nil {
				t.Fatalf("unit %s is partly deleted and its root is gone: %v", ids[0], err)
			}
		}
	}
	return gone
}

// rootsLeft returns how many finished units still have their root: a
// check that holds while pruners run, which a per-call view of every
// member would not (a unit can be deleted between two reads).
func (w *pruneWorld) rootsLeft(t *testing.T, b statebackend.Backend) int {
	t.Helper()
	left := 0
	for _, ids := range w.eligible {
		if _, err := b.Invocation(t.Context(), ids[0]); err == nil {
			left++
		} else if !errors.Is(err, statebackend.ErrNotFound) {
			t.Fatal(err)
		}
	}
	return left
}

// pruneDB is one database with an app for the prune tests.
type pruneDB struct {
	kind, dsn, appID string
}

// newPruneDB provisions a database of kind ("sqlite", "postgres", "mysql")
// and a fresh app id whose tables go when t ends.
func newPruneDB(t *testing.T, kind string) *pruneDB {
	t.Helper()
	db := &pruneDB{kind: kind, appID: conformance.NewAppID()}
	switch kind {
	case "sqlite":
		db.dsn = filepath.Join(t.TempDir(), "prune.db")
	case "postgres":
		db.dsn = pgtest.DSN(t)
	case "mysql":
		db.dsn = mysqltest.DSN(t)
	}
	if kind != "sqlite" {
		t.Cleanup(func() {
			g, err := gorm.Open(db.dialector())
			if err != nil {
				return
			}
			b, err := db.open()
			if err == nil {
				_ = b.Purge(context.Background())
				_ = b.Close()
			}
			if sqlDB, err := g.DB(); err == nil {
				_ = sqlDB.Close()
			}
		})
	}
	return db
}

func (db *pruneDB) dialector() gorm.Dialector {
	switch db.kind {
	case "postgres":
		return postgres.Open(db.dsn)
	case "mysql":
		return mysql.Open(db.dsn)
	}
	return sqlite.Open(db.dsn)
}

func (db *pruneDB) open(opts ...statebackend.Option) (*statebackend.Store, error) {
	return statebackend.Open(db.dialector(), append([]statebackend.Option{statebackend.WithAppID(db.appID)}, opts...)...)
}

func (db *pruneDB) env() []string {
	return []string{"RELIABILITY_KIND=" + db.kind, "RELIABILITY_DB=" + db.dsn, "RELIABILITY_APP=" + db.appID}
}

// openFromEnv opens the database a parent passed in the environment.
func openFromEnv(opts ...statebackend.Option) (*statebackend.Store, error) {
	db := &pruneDB{kind: os.Getenv("RELIABILITY_KIND"), dsn: os.Getenv("RELIABILITY_DB"), appID: os.Getenv("RELIABILITY_APP")}
	return db.open(opts...)
}

// TestPruneKilledMidway kills a process in the middle of a prune in small
// batches, on each database, then checks that every live unit is whole
// and every finished unit whole, gone, or (split over batches) reduced to
// whole members with its root; a second prune then deletes every finished
// unit entirely.
func TestPruneKilledMidway(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db := newPruneDB(t, kind)
			b, err := db.open()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			w, err := writePruneWorld(t.Context(), b, "k-", 60, 6, 40, 45)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			c := startChild(ctx, t, "pruner", "TestChildPruner", "pruner", db.env()...)
			c.expect(t, "batch n=3", 2*time.Minute)
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			lines, code := c.wait()
			if code != -1 {
				t.Fatalf("the pruner exited with code %d before it was killed:\n%s", code, c.output())
			}
			w.checkLive(t, b)
			gone := w.checkEligible(t, b, false)
			t.Logf("killed after %d progress reports; %d of %d finished units gone", countPrefix(lines, "batch"), gone, len(w.eligible))
			stats, err := b.Prune(t.Context(), statebackend.PruneOptions{OlderThan: pruneRetention, BatchSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.checkEligible(t, b, true); got != len(w.eligible) {
				t.Fatalf("%d finished units gone after the second prune, want %d", got, len(w.eligible))
			}
			if stats.Units+int64(gone) < int64(len(w.eligible)) {
				t.Errorf("the second prune deleted %d units, %d were gone before: not %d", stats.Units, gone, len(w.eligible))
			}
			w.checkLive(t, b)
		})
	}
}

// TestChildPruner is the process TestPruneKilledMidway kills: it prunes in
// batches of 15 invocations, reporting each batch, and slows down after
// the third so that the kill lands in the middle. After the twelfth (of
// more than twenty) it waits to be killed: a parent short of CPU may take
// any time to act on the third, and the prune must not end first.
func TestChildPruner(t *testing.T) {
	childRole(t, "pruner")
	b, err := openFromEnv(childLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Prune(t.Context(), statebackend.PruneOptions{OlderThan: pruneRetention, BatchSize: 15,
		Progress: func(s statebackend.PruneStats) {
			say("batch n=%d units=%d", s.Batches, s.Units)
			switch {
			case s.Batches >= 12:
				_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // the parent never writes
			case s.Batches >= 3:
				time.Sleep(30 * time.Millisecond) // widen the window the kill lands in
			}
		}})
	say("error: the prune ended (%v) before the kill", err)
}

// pruneRun is one background prune as a process reported it.
type pruneRun struct {
	proc          string
	start, finish int64 // Unix microseconds
	units         int64
}

// checkRuns fails t unless the runs never overlap in time and delete each
// finished unit once in all.
func checkRuns(t *testing.T, runs []pruneRun, eligible int) {
	t.Helper()
	slices.SortFunc(runs, func(a, b pruneRun) int { return int(a.start - b.start) })
	var units int64
	procs := map[string]bool{}
	for i, r := range runs {
		units += r.units
		procs[r.proc] = true
		if i > 0 && r.start < runs[i-1].finish {
			t.Errorf("prunes overlap: %s ran %d-%d, %s %d-%d", runs[i-1].proc, runs[i-1].start, runs[i-1].finish, r.proc, r.start, r.finish)
		}
	}
	if units != int64(eligible) {
		t.Errorf("the background prunes deleted %d units in all, want %d (each once)", units, eligible)
	}
	t.Logf("%d prunes by %d of the processes", len(runs), len(procs))
}

// TestBackgroundPrunerOneAtATimeSQLite starts 4 processes on one SQLite
// file, each with a background pruner every 30 ms: the prunes never
// overlap (the lease), and each finished unit is deleted once in all.
func TestBackgroundPrunerOneAtATimeSQLite(t *testing.T) {
	t.Parallel()
	db := newPruneDB(t, "sqlite")
	b, err := db.open()
	if err != nil {
		t.Fatal(err)
	}
	w, err := writePruneWorld(t.Context(), b, "bg-", 40, 5)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var children []*child
	for p := range 4 {
		children = append(children, startChild(ctx, t, "process "+strconv.Itoa(p), "TestChildBackgroundPruner", "background-pruner", db.env()...))
	}
	for _, c := range children {
		c.expect(t, "ready", 2*time.Minute)
	}
	for _, c := range children {
		if _, err := fmt.Fprintln(c.stdin, "go"); err != nil {
			t.Fatal(err)
		}
	}
	// Until the finished units are gone (their roots go last).
	for deadline := time.Now().Add(2 * time.Minute); w.rootsLeft(t, b) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the background pruners did not delete every finished unit within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond) // polling the database with a deadline
	}
	// And until they have taken turns for a while.
	for deadline := time.Now().Add(time.Minute); ; {
		n := 0
		for _, c := range children {
			c.mu.Lock()
			n += countPrefix(c.protocol, "run ")
			c.mu.Unlock()
		}
		if n >= 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d background prunes within a minute", n)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	for _, c := range children {
		_ = c.stdin.Close()
	}
	var runs []pruneRun
	for _, c := range children {
		lines, code := c.wait()
		if code != 0 {
			t.Fatalf("%s exited with code %d:\n%s", c.name, code, c.output())
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "run ") {
				start, _ := strconv.ParseInt(field(l, "start"), 10, 64)
				finish, _ := strconv.ParseInt(field(l, "finish"), 10, 64)
				units, _ := strconv.ParseInt(field(l, "units"), 10, 64)
				runs = append(runs, pruneRun{proc: c.name, start: start, finish: finish, units: units})
			}
		}
	}
	checkRuns(t, runs, len(w.eligible))
	w.checkEligible(t, b, true)
	w.checkLive(t, b)
	_ = b.Close()
}

// TestChildBackgroundPruner opens the database with a background pruner
// and reports every prune it runs until its stdin closes.
func TestChildBackgroundPruner(t *testing.T) {
	childRole(t, "background-pruner")
	in := awaitGo(t)
	b, err := openFromEnv(childLogger(), statebackend.WithRetention(statebackend.Retention{
		OlderThan: pruneRetention, Interval: 30 * time.Millisecond, BatchSize: 20,
		Report: func(r statebackend.PruneReport) {
			say("run start=%d finish=%d units=%d err=%v", r.Started.UnixMicro(), r.Finished.UnixMicro(), r.Stats.Units, r.Err)
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	for in.Scan() {
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBackgroundPrunerOneAtATimeServers is the same with 4 backends (4
// connection pools, as 4 processes would have) on Postgres and on MySQL,
// whose pruners take an advisory lock.
func TestBackgroundPrunerOneAtATimeServers(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db := newPruneDB(t, kind)
			b, err := db.open()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			w, err := writePruneWorld(t.Context(), b, "bg-", 40, 5)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var runs []pruneRun
			var backends []statebackend.Backend
			for p := range 4 {
				pb, err := db.open(statebackend.WithRetention(statebackend.Retention{
					OlderThan: pruneRetention, Interval: 30 * time.Millisecond, BatchSize: 20,
					Report: func(r statebackend.PruneReport) {
						mu.Lock()
						defer mu.Unlock()
						runs = append(runs, pruneRun{proc: "backend " + strconv.Itoa(p), start: r.Started.UnixMicro(),
							finish: r.Finished.UnixMicro(), units: r.Stats.Units})
					},
				}))
				if err != nil {
					t.Fatal(err)
				}
				backends = append(backends, pb)
			}
			for deadline := time.Now().Add(2 * time.Minute); w.rootsLeft(t, b) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("the background pruners did not delete every finished unit within 2 minutes")
				}
				time.Sleep(50 * time.Millisecond) // polling the database with a deadline
			}
			for deadline := time.Now().Add(time.Minute); ; {
				mu.Lock()
				n := len(runs)
				mu.Unlock()
				if n >= 12 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d background prunes within a minute", n)
				}
				time.Sleep(20 * time.Millisecond) // polling with a deadline
			}
			for _, pb := range backends {
				if err := pb.Close(); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			checkRuns(t, runs, len(w.eligible))
			mu.Unlock()
			w.checkEligible(t, b, true)
			w.checkLive(t, b)
		})
	}
}
