package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// retentionTests returns the tests of group "retention", for backends
// that implement state.Pruner; the others skip them, saying so.
func retentionTests() []Test {
	tests := []Test{
		{Name: "deletes_finished_units_whole_keeps_live", Run: testPruneMixed},
		{Name: "dry_run_deletes_nothing", Run: testPruneDryRun},
		{Name: "small_batches_same_result", Run: testPruneSmallBatches},
		{Name: "large_unit_in_several_batches", Run: testPruneLargeUnit},
		{Name: "second_prune_finds_nothing", Run: testPruneTwice},
		{Name: "invalid_options_delete_nothing", Run: testPruneInvalid},
		{Name: "writers_during_prune", Run: testPruneWithWriters},
		{Name: "other_apps_untouched", Run: testPruneIsolation},
		{Name: "closed_and_cancelled", Run: testPruneLifecycle},
		{Name: "batches_within_batch_size_any_shape", Run: testPruneBatchBound},
		{Name: "interrupted_prunes_finish_nested_unit", Run: testPruneInterrupted},
		{Name: "kept_counts_old_units_left", Run: testPruneKept},
		{Name: "ends_beside_writer_of_old_records", Run: testPruneBesideOldWriter},
	}
	for i := range tests {
		tests[i].Group = "retention"
	}
	return tests
}

// retention is how old a unit must be in the retention tests: records at
// oldTime are older, records at recentTime are not.
const retention = 24 * time.Hour

var oldTime = time.Date(2020, 3, 1, 10, 0, 0, 500000000, time.UTC)

func recentTime() time.Time { return time.Now().Add(-time.Minute).Truncate(time.Microsecond) }

// pruner returns b as a Pruner, or skips t.
func pruner(t *testing.T, b state.Backend) state.Pruner {
	t.Helper()
	p, ok := b.(state.Pruner)
	if !ok {
		t.Skipf("retention: %T does not implement state.Pruner", b)
	}
	return p
}

// world is a set of units of mixed ages and states, written through the
// backend, with what a prune must delete and keep.
type world struct {
	prefix string
	// gone are the units a prune deletes, kept those it keeps, each as the
	// ids it wrote (invocations, history-only ids, workflows).
	gone, kept []*pruneUnit
}

// pruneUnit is one unit of a world: what was written for it.
type pruneUnit struct {
	name      string
	invs      []state.Invocation
	loneIDs   []state.InvocationID // history (and results) without an invocation
	history   map[state.InvocationID][]state.InvocationHistory
	results   map[state.InvocationID][]byte
	excs      map[state.InvocationID][]byte
	runs      []state.WorkflowIdentity
	data      map[state.InvocationID][]byte // workflow id -> value under "k"
	subs      map[state.InvocationID][]state.InvocationID
	rowsTotal state.PruneStats // what deleting it removes
}

// ids returns every id the unit wrote history for.
func (u *pruneUnit) ids() []state.InvocationID {
	out := slices.Clone(u.loneIDs)
	for _, inv := range u.invs {
		out = append(out, inv.ID)
	}
	return out
}

// unitBuilder writes one unit through a backend.
type unitBuilder struct {
	t *testing.T
	b state.Backend
	u *pruneUnit
}

func newUnit(t *testing.T, b state.Backend, name string) *unitBuilder {
	return &unitBuilder{t: t, b: b, u: &pruneUnit{
		name: name, history: map[state.InvocationID][]state.InvocationHistory{}, results: map[state.InvocationID][]byte{},
		excs: map[state.InvocationID][]byte{}, data: map[state.InvocationID][]byte{}, subs: map[state.InvocationID][]state.InvocationID{},
	}}
}

// inv stores inv (a workflow starter also gets its run, data and an entry
// in its parent's sub-invocation set).
func (ub *unitBuilder) inv(inv state.Invocation) state.Invocation {
	ub.t.Helper()
	mustUpsert(ub.t, ub.b, inv)
	ub.u.invs = append(ub.u.invs, inv)
	ub.u.rowsTotal.Invocations++
	if inv.Workflow.WorkflowID == inv.ID {
		noErr(ub.t, "StoreWorkflowRun", ub.b.StoreWorkflowRun(ctx(ub.t), inv.Workflow))
		ub.u.runs = append(ub.u.runs, inv.Workflow)
		ub.u.rowsTotal.WorkflowRuns++
		value := []byte("data of " + string(inv.ID))
		noErr(ub.t, "SetWorkflowData", ub.b.SetWorkflowData(ctx(ub.t), inv.ID, "k", value))
		ub.u.data[inv.ID] = value
		ub.u.rowsTotal.WorkflowData++
	}
	if parent := inv.Workflow.ParentWorkflowID; inv.Workflow.WorkflowID == inv.ID && parent != "" {
		ub.sub(parent, inv.ID)
	} else if inv.Workflow.WorkflowID != inv.ID {
		ub.sub(inv.Workflow.WorkflowID, inv.ID)
	}
	return inv
}

func (ub *unitBuilder) sub(wf, id state.InvocationID) {
	ub.t.Helper()
	noErr(ub.t, "StoreWorkflowSubInvocation", ub.b.StoreWorkflowSubInvocation(ctx(ub.t), wf, id))
	ub.u.subs[wf] = append(ub.u.subs[wf], id)
	ub.u.rowsTotal.SubInvocations++
}

// hist adds records to id with statuses at ts, ts+1µs, ...
func (ub *unitBuilder) hist(id state.InvocationID, ts time.Time, statuses ...state.Status) {
	ub.t.Helper()
	for i, s := range statuses {
		h := record(s, ts.Add(time.Duration(i)*time.Microsecond))
		mustAddHistory(ub.t, ub.b, h, id)
		ub.u.history[id] = append(ub.u.history[id], stored(id, h))
		ub.u.rowsTotal.History++
	}
}

// finished adds the usual lifecycle of a finished invocation at ts.
func (ub *unitBuilder) finished(id state.InvocationID, ts time.Time) {
	ub.hist(id, ts, state.StatusRegistered, state.StatusPending, state.StatusRunning, state.StatusSuccess)
}

func (ub *unitBuilder) result(id state.InvocationID) {
	ub.t.Helper()
	v := []byte("result of " + string(id))
	noErr(ub.t, "SetResult", ub.b.SetResult(ctx(ub.t), id, v))
	ub.u.results[id] = v
	ub.u.rowsTotal.Results++
}

func (ub *unitBuilder) exception(id state.InvocationID) {
	ub.t.Helper()
	v := []byte("exception of " + string(id))
	noErr(ub.t, "SetException", ub.b.SetException(ctx(ub.t), id, v))
	ub.u.excs[id] = v
	ub.u.rowsTotal.Exceptions++
}

// subWorkflow returns a sub-workflow starter called by parent.
func subWorkflow(id state.InvocationID, fn string, parent state.Invocation) state.Invocation {
	inv := topLevel(id, fn, nil)
	inv.Workflow.ParentWorkflowID = parent.Workflow.WorkflowID
	inv.ParentInvocationID = parent.ID
	return inv
}

// buildWorld writes the mixed units every retention test starts from,
// ids prefixed with prefix.
func buildWorld(t *testing.T, b state.Backend, prefix string) *world {
	t.Helper()
	w := &world{prefix: prefix}
	id := func(s string) state.InvocationID { return state.InvocationID(prefix + s) }
	old, recent := oldTime, recentTime()

	// A finished workflow with children, a finished sub-workflow with its
	// own child, results and an exception: deleted whole.
	u := newUnit(t, b, "finished workflow")
	root := u.inv(topLevel(id("wf1"), "main", map[string]string{"a": "1"}))
	c1 := u.inv(child(id("wf1-c1"), "step", root))
	c2 := u.inv(child(id("wf1-c2"), "step", root))
	sub := u.inv(subWorkflow(id("wf1-sub"), "nested", root))
	gc := u.inv(child(id("wf1-sub-c1"), "leaf", sub))
	for i, inv := range []state.Invocation{root, c1, c2, sub, gc} {
		u.finished(inv.ID, old.Add(time.Duration(i)*time.Second))
		u.result(inv.ID)
	}
	u.hist(c2.ID, old.Add(time.Hour), state.StatusFailed) // failed after success: still final
	u.exception(c2.ID)
	w.gone = append(w.gone, u.u)

	// A standalone invocation, finished: deleted.
	u = newUnit(t, b, "standalone")
	solo := u.inv(topLevel(id("solo"), "solo", nil))
	u.hist(solo.ID, old, state.StatusRegistered, state.StatusConcurrencyControlledFinal)
	w.gone = append(w.gone, u.u)

	// History and a result of an id never upserted, final: deleted.
	u = newUnit(t, b, "history without invocation")
	u.u.loneIDs = []state.InvocationID{id("lone")}
	u.finished(id("lone"), old)
	u.result(id("lone"))
	w.gone = append(w.gone, u.u)

	// Two records at one timestamp: the one inserted last is the last.
	u = newUnit(t, b, "tie ending final")
	tie := u.inv(topLevel(id("tie-final"), "main", nil))
	u.hist(tie.ID, old, state.StatusRunning)
	u.hist(tie.ID, old, state.StatusSuccess)
	w.gone = append(w.gone, u.u)

	// Kept: finished but a record is recent.
	u = newUnit(t, b, "finished recently")
	r := u.inv(topLevel(id("recent"), "main", nil))
	rc := u.inv(child(id("recent-c1"), "step", r))
	u.finished(r.ID, old)
	u.finished(rc.ID, recent)
	w.kept = append(w.kept, u.u)

	// Kept: the root still runs.
	u = newUnit(t, b, "running root")
	lr := u.inv(topLevel(id("live-root"), "main", nil))
	lc := u.inv(child(id("live-root-c1"), "step", lr))
	u.hist(lr.ID, old, state.StatusRegistered, state.StatusRunning)
	u.finished(lc.ID, old)
	w.kept = append(w.kept, u.u)

	// Kept: a finished parent with a child still pending.
	u = newUnit(t, b, "live child in a finished parent")
	fp := u.inv(topLevel(id("parent-done"), "main", nil))
	pc := u.inv(child(id("parent-done-c1"), "step", fp))
	u.finished(fp.ID, old)
	u.hist(pc.ID, old, state.StatusRegistered, state.StatusPending)
	w.kept = append(w.kept, u.u)

	// Kept: a finished workflow whose sub-workflow has a running child.
	u = newUnit(t, b, "live sub-workflow")
	sr := u.inv(topLevel(id("with-live-sub"), "main", nil))
	ss := u.inv(subWorkflow(id("with-live-sub-s"), "nested", sr))
	sc := u.inv(child(id("with-live-sub-s-c1"), "leaf", ss))
	u.finished(sr.ID, old)
	u.finished(ss.ID, old)
	u.hist(sc.ID, old, state.StatusRegistered, state.StatusRunning)
	u.result(sr.ID)
	w.kept = append(w.kept, u.u)

	// Kept: killed is not final (pynenc may recover it).
	u = newUnit(t, b, "killed")
	k := u.inv(topLevel(id("killed"), "main", nil))
	u.hist(k.ID, old, state.StatusRegistered, state.StatusRunning, state.StatusKilled)
	w.kept = append(w.kept, u.u)

	// Kept: a child without any history yet.
	u = newUnit(t, b, "child without history")
	nh := u.inv(topLevel(id("no-history"), "main", nil))
	u.inv(child(id("no-history-c1"), "step", nh))
	u.finished(nh.ID, old)
	w.kept = append(w.kept, u.u)

	// Kept: final, then running again (the last record decides).
	u = newUnit(t, b, "final then running")
	fr := u.inv(topLevel(id("final-then-running"), "main", nil))
	u.hist(fr.ID, old, state.StatusSuccess)
	u.hist(fr.ID, old.Add(time.Second), state.StatusRunning)
	w.kept = append(w.kept, u.u)

	// Kept: two records at one timestamp, the last inserted not final.
	u = newUnit(t, b, "tie ending running")
	tr := u.inv(topLevel(id("tie-running"), "main", nil))
	u.hist(tr.ID, old, state.StatusSuccess)
	u.hist(tr.ID, old, state.StatusRunning)
	w.kept = append(w.kept, u.u)

	// Kept: history of an id never upserted, still running.
	u = newUnit(t, b, "live history without invocation")
	u.u.loneIDs = []state.InvocationID{id("lone-live")}
	u.hist(id("lone-live"), old, state.StatusRegistered, state.StatusRunning)
	w.kept = append(w.kept, u.u)
	return w
}

// want returns the stats of deleting every unit of w.gone.
func (w *world) want() state.PruneStats {
	var s state.PruneStats
	for _, u := range w.gone {
		s = s.Add(u.rowsTotal)
		s.Units++
	}
	return s
}

// checkGone fails t unless nothing of u is left.
func checkGone(t *testing.T, b state.Backend, u *pruneUnit) {
	t.Helper()
	for _, id := range u.ids() {
		if _, err := b.Invocation(ctx(t), id); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("unit %q: invocation %s is still there (%v)", u.name, id, err)
		}
		if h := mustHistory(t, b, id); len(h) > 0 {
			t.Errorf("unit %q: %d history records of %s are still there", u.name, len(h), id)
		}
		if _, err := b.Result(ctx(t), id); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("unit %q: the result of %s is still there (%v)", u.name, id, err)
		}
		if _, err := b.Exception(ctx(t), id); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("unit %q: the exception of %s is still there (%v)", u.name, id, err)
		}
	}
	runs, err := b.WorkflowRuns(ctx(t))
	noErr(t, "WorkflowRuns", err)
	for _, run := range u.runs {
		if slices.Contains(runs, run) {
			t.Errorf("unit %q: workflow run %s is still there", u.name, run.WorkflowID)
		}
		if _, err := b.WorkflowData(ctx(t), run.WorkflowID, "k"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("unit %q: workflow data of %s is still there (%v)", u.name, run.WorkflowID, err)
		}
		subs, err := b.WorkflowSubInvocations(ctx(t), run.WorkflowID)
		noErr(t, "WorkflowSubInvocations", err)
		if len(subs) > 0 {
			t.Errorf("unit %q: the sub-invocations of %s are still there: %v", u.name, run.WorkflowID, subs)
		}
		if ids := byWorkflow(t, b, state.WorkflowFilter{WorkflowID: run.WorkflowID}); len(ids) > 0 {
			t.Errorf("unit %q: invocations of workflow %s are still there: %v", u.name, run.WorkflowID, ids)
		}
	}
}

// checkKept fails t unless every part of u reads as written.
func checkKept(t *testing.T, b state.Backend, u *pruneUnit) {
	t.Helper()
	for _, inv := range u.invs {
		got, err := b.Invocation(ctx(t), inv.ID)
		if err != nil {
			t.Errorf("unit %q: invocation %s: %v", u.name, inv.ID, err)
			continue
		}
		wantInvocation(t, fmt.Sprintf("unit %q: invocation %s", u.name, inv.ID), got, inv)
	}
	for id, want := range u.history {
		wantHistory(t, fmt.Sprintf("unit %q: history of %s", u.name, id), mustHistory(t, b, id), want)
	}
	for id, want := range u.results {
		got, err := b.Result(ctx(t), id)
		noErr(t, fmt.Sprintf("unit %q: Result(%s)", u.name, id), err)
		wantBytes(t, "result", got, want)
	}
	for id, want := range u.excs {
		got, err := b.Exception(ctx(t), id)
		noErr(t, fmt.Sprintf("unit %q: Exception(%s)", u.name, id), err)
		wantBytes(t, "exception", got, want)
	}
	runs, err := b.WorkflowRuns(ctx(t))
	noErr(t, "WorkflowRuns", err)
	for _, run := range u.runs {
		if !slices.Contains(runs, run) {
			t.Errorf("unit %q: workflow run %s is gone", u.name, run.WorkflowID)
		}
	}
	for wf, want := range u.data {
		got, err := b.WorkflowData(ctx(t), wf, "k")
		noErr(t, fmt.Sprintf("unit %q: WorkflowData(%s)", u.name, wf), err)
		wantBytes(t, "workflow data", got, want)
	}
	for wf, want := range u.subs {
		got, err := b.WorkflowSubInvocations(ctx(t), wf)
		noErr(t, "WorkflowSubInvocations", err)
		want = slices.Clone(want)
		slices.Sort(want)
		wantIDs(t, fmt.Sprintf("unit %q: sub-invocations of %s", u.name, wf), got, want)
	}
}

// check fails t unless the gone units are gone and the kept ones intact.
func (w *world) check(t *testing.T, b state.Backend) {
	t.Helper()
	for _, u := range w.gone {
		checkGone(t, b, u)
	}
	w.checkKept(t, b)
}

func (w *world) checkKept(t *testing.T, b state.Backend) {
	t.Helper()
	for _, u := range w.kept {
		checkKept(t, b, u)
	}
}

// wantStats fails t unless got counts what want does (Kept and Batches
// aside, which depend on how the backend works).
func wantStats(t *testing.T, what string, got, want state.PruneStats) {
	t.Helper()
	got.Kept, got.Batches, want.Kept, want.Batches = 0, 0, 0, 0
	if got != want {
		t.Errorf("%s: stats %+v, want %+v", what, got, want)
	}
}

// withoutKept returns s with Kept zeroed: units found live may be counted
// after the last batch.
func withoutKept(s state.PruneStats) state.PruneStats {
	s.Kept = 0
	return s
}

func testPruneMixed(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	info := fullAppInfo("retention-app")
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), info))
	rc := chain(runner("runner-1", "Runner", 1, "host", 1))
	noErr(t, "StoreRunnerContext", b.StoreRunnerContext(ctx(t), rc))
	w := buildWorld(t, b, "")
	stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune", err)
	wantStats(t, "Prune", stats, w.want())
	if stats.Batches < 1 {
		t.Errorf("Prune reported %d batches, want at least one", stats.Batches)
	}
	w.check(t, b)
	got, err := b.AppInfo(ctx(t), info.AppID)
	noErr(t, "AppInfo after Prune", err)
	if !reflect.DeepEqual(got, info) {
		t.Errorf("app info after Prune: %+v, want %+v", got, info)
	}
	gotRC, err := b.RunnerContext(ctx(t), "runner-1")
	noErr(t, "RunnerContext after Prune", err)
	wantRunner(t, "runner context after Prune", gotRC, rc)
}

func testPruneDryRun(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	var progress []state.PruneStats
	dry, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, DryRun: true,
		Progress: func(s state.PruneStats) { progress = append(progress, s) }})
	noErr(t, "Prune(DryRun)", err)
	wantStats(t, "Prune(DryRun)", dry, w.want())
	if len(progress) == 0 || withoutKept(progress[len(progress)-1]) != withoutKept(dry) {
		t.Errorf("dry run progress %+v does not end at its result %+v", progress, dry)
	}
	for _, u := range append(slices.Clone(w.gone), w.kept...) {
		checkKept(t, b, u)
	}
	real, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune", err)
	wantStats(t, "Prune after the dry run", real, dry)
	w.check(t, b)
}

func testPruneSmallBatches(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	var calls []state.PruneStats
	stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: 2,
		Progress: func(s state.PruneStats) { calls = append(calls, s) }})
	noErr(t, "Prune(BatchSize 2)", err)
	wantStats(t, "Prune(BatchSize 2)", stats, w.want())
	w.check(t, b)
	if len(calls) < 2 || withoutKept(calls[len(calls)-1]) != withoutKept(stats) {
		t.Fatalf("progress was reported %d times (%+v), want once per batch ending at %+v", len(calls), calls, stats)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Batches <= calls[i-1].Batches || calls[i].History < calls[i-1].History {
			t.Fatalf("progress does not add up: %+v then %+v", calls[i-1], calls[i])
		}
	}
}

func testPruneLargeUnit(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	u := newUnit(t, b, "large")
	root := u.inv(topLevel("large", "main", nil))
	u.finished(root.ID, oldTime)
	for i := range 40 {
		c := u.inv(child(state.InvocationID(fmt.Sprintf("large-c%02d", i)), "step", root))
		u.hist(c.ID, oldTime.Add(time.Duration(i)*time.Millisecond), state.StatusRunning, state.StatusSuccess)
		u.result(c.ID)
	}
	keep := newUnit(t, b, "live")
	lv := keep.inv(topLevel("live", "main", nil))
	keep.hist(lv.ID, oldTime, state.StatusRunning)
	stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: 7})
	noErr(t, "Prune(BatchSize 7)", err)
	want := u.u.rowsTotal
	want.Units = 1
	wantStats(t, "Prune of a 41-invocation unit in batches of 7", stats, want)
	checkGone(t, b, u.u)
	checkKept(t, b, keep.u)
}

func testPruneTwice(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	_, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune", err)
	again, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune again", err)
	wantStats(t, "the second Prune", again, state.PruneStats{})
	w.check(t, b)
}

func testPruneInvalid(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	for _, c := range []struct {
		name string
		opts state.PruneOptions
	}{
		{"OlderThan 0", state.PruneOptions{}},
		{"OlderThan 0 with a batch size", state.PruneOptions{BatchSize: 10}},
		{"negative OlderThan", state.PruneOptions{OlderThan: -time.Hour}},
		{"negative BatchSize", state.PruneOptions{OlderThan: retention, BatchSize: -1}},
		{"negative BatchTimeout", state.PruneOptions{OlderThan: retention, BatchTimeout: -time.Second}},
	} {
		stats, err := p.Prune(ctx(t), c.opts)
		wantInvalid(t, "Prune("+c.name+")", err)
		if stats != (state.PruneStats{}) {
			t.Errorf("Prune(%s) reported %+v", c.name, stats)
		}
	}
	for _, u := range append(slices.Clone(w.gone), w.kept...) {
		checkKept(t, b, u)
	}
}

// testPruneWithWriters prunes in small batches while writers add history
// to live invocations and store new live units: nothing live is deleted,
// every pruned unit is gone whole.
func testPruneWithWriters(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	var worlds []*world
	for i := range 3 {
		worlds = append(worlds, buildWorld(t, b, fmt.Sprintf("w%d-", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	var mu sync.Mutex
	extra := map[state.InvocationID][]state.InvocationHistory{}
	fail := make(chan error, 8)
	base := recentTime()
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				w := worlds[i%len(worlds)]
				u := w.kept[i%len(w.kept)]
				ids := u.ids()
				id := ids[i%len(ids)]
				// A recent non-final record, at a timestamp of its own: the
				// unit stays live.
				rec := record(state.StatusRunning, base.Add(time.Duration(4*i+g)*time.Microsecond))
				if err := b.AddHistory(ctx(t), []state.InvocationID{id}, rec); err != nil {
					fail <- fmt.Errorf("AddHistory during Prune: %w", err)
					return
				}
				mu.Lock()
				extra[id] = append(extra[id], stored(id, rec))
				mu.Unlock()
				written.Add(1)
			}
		})
	}
	// The prunes start once the writers are writing. The deadline is
	// generous: a server starved of CPU can take seconds per write.
	for deadline := time.Now().Add(2 * time.Minute); written.Load() < 4 && len(fail) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the writers wrote %d records within 2 minutes, want 4", written.Load())
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	var total state.PruneStats
	for range 3 {
		stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: 3})
		noErr(t, "Prune with writers", err)
		total = total.Add(stats)
	}
	close(stop)
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	var want state.PruneStats
	for _, w := range worlds {
		want = want.Add(w.want())
		for _, u := range w.gone {
			checkGone(t, b, u)
		}
		for _, u := range w.kept {
			for id, recs := range extra {
				if _, ok := u.history[id]; ok {
					u.history[id] = sortedHistory(append(u.history[id], recs...))
				} else if slices.Contains(u.loneIDs, id) || slices.ContainsFunc(u.invs, func(inv state.Invocation) bool { return inv.ID == id }) {
					u.history[id] = sortedHistory(recs)
				}
			}
			checkKept(t, b, u)
		}
	}
	wantStats(t, "Prune with writers (three runs)", total, want)
}

// sortedHistory orders records as History returns them (the writers'
// records have distinct timestamps).
func sortedHistory(hs []state.InvocationHistory) []state.InvocationHistory {
	slices.SortStableFunc(hs, func(a, b state.InvocationHistory) int { return a.Timestamp.Compare(b.Timestamp) })
	return hs
}

func testPruneIsolation(t *testing.T, h Harness) {
	a := open(t, h)
	other := open(t, h)
	p := pruner(t, a)
	wa := buildWorld(t, a, "")
	wb := buildWorld(t, other, "")
	stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune", err)
	wantStats(t, "Prune", stats, wa.want())
	wa.check(t, a)
	for _, u := range append(slices.Clone(wb.gone), wb.kept...) {
		checkKept(t, other, u)
	}
}

func testPruneLifecycle(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	_, err := p.Prune(cancelled, state.PruneOptions{OlderThan: retention})
	if err == nil {
		t.Fatal("Prune with a cancelled context: no error")
	}
	w.checkKept(t, b)
	for _, u := range w.gone {
		checkKept(t, b, u)
	}
	noErr(t, "Close", b.Close())
	_, err = p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	wantErr(t, "Prune after Close", err, state.ErrClosed)
}
