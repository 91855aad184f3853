package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// isolationTests returns the tests of group "isolation": backends over one
// store see exactly the data of their own app id.
func isolationTests() []Test {
	tests := []Test{
		{Name: "writes_invisible_to_other_app", Run: testIsolationInvisible},
		{Name: "same_ids_in_two_apps", Run: testIsolationSameIDs},
		{Name: "purge_leaves_other_app", Run: testIsolationPurge},
		{Name: "similar_app_ids_isolated", Run: testIsolationSimilarIDs},
		{Name: "same_app_id_shares_data", Run: testIsolationSameApp},
		{Name: "default_app", Run: testIsolationDefaultApp},
	}
	for i := range tests {
		tests[i].Group = "isolation"
	}
	return tests
}

func testIsolationInvisible(t *testing.T, h Harness) {
	a, b := open(t, h), open(t, h)
	ds := newDataset("a")
	ds.write(t, a)
	ds.check(t, a)
	ds.checkAbsent(t, b)
}

func testIsolationSameIDs(t *testing.T, h Harness) {
	a, b := open(t, h), open(t, h)
	dsA, dsB := newDataset("a"), newDataset("b")
	dsA.write(t, a)
	dsB.write(t, b)
	dsA.check(t, a)
	dsB.check(t, b)
	_, err := b.Invocation(ctx(t), dsA.own.ID)
	wantNotFound(t, "Invocation(A's own id) through B", err)
	_, err = a.Invocation(ctx(t), dsB.own.ID)
	wantNotFound(t, "Invocation(B's own id) through A", err)
}

func testIsolationPurge(t *testing.T, h Harness) {
	a, b := open(t, h), open(t, h)
	dsA, dsB := newDataset("a"), newDataset("b")
	dsA.write(t, a)
	dsB.write(t, b)
	noErr(t, "Purge(A)", a.Purge(ctx(t)))
	dsA.checkAbsent(t, a)
	dsB.check(t, b)
}

func testIsolationSimilarIDs(t *testing.T, h Harness) {
	base := NewAppID()
	long := base + strings.Repeat("x", 80)
	// Ids that sanitize to the same table-name form, differ only in case, or
	// share a long prefix a table-name limit would cut off.
	ids := []string{base + "-1", base + "_1", base + ".1", strings.ToUpper(base) + "_1", long + "a", long + "b"}
	backends := make([]state.Backend, len(ids))
	for i, id := range ids {
		backends[i] = h.Open(t, id)
		inv := topLevel("inv", "task", map[string]string{"app": id})
		mustUpsert(t, backends[i], inv)
		noErr(t, "SetResult", backends[i].SetResult(ctx(t), "inv", []byte(id)))
	}
	for i, id := range ids {
		what := fmt.Sprintf("app %q", id)
		wantInvocation(t, what+": Invocation(inv)", mustInvocation(t, backends[i], "inv"),
			topLevel("inv", "task", map[string]string{"app": id}))
		wantIDs(t, what+": InvocationIDsByWorkflow", allInvocationIDs(t, backends[i]), []state.InvocationID{"inv"})
		got, err := backends[i].Result(ctx(t), "inv")
		noErr(t, what+": Result", err)
		wantBytes(t, what+": Result(inv)", got, []byte(id))
	}
}

func testIsolationSameApp(t *testing.T, h Harness) {
	id := NewAppID()
	a1, a2 := h.Open(t, id), h.Open(t, id)
	ds := newDataset("a")
	ds.write(t, a1)
	ds.check(t, a2)
	// Writes through the second are visible through the first.
	extra := topLevel("extra", "task", nil)
	mustUpsert(t, a2, extra)
	wantInvocation(t, "Invocation(extra) through the first backend", mustInvocation(t, a1, "extra"), extra)
	noErr(t, "SetResult", a2.SetResult(ctx(t), ds.root.ID, []byte("changed")))
	got, err := a1.Result(ctx(t), ds.root.ID)
	noErr(t, "Result", err)
	wantBytes(t, "Result(root) through the first backend", got, []byte("changed"))
	// So is a purge.
	noErr(t, "Purge through the second backend", a2.Purge(ctx(t)))
	ds.checkAbsent(t, a1)
}

// testIsolationDefaultApp writes through the default app id "". That app is
// shared by every test of the binary, so it uses ids of its own and never
// assumes the app starts empty.
func testIsolationDefaultApp(t *testing.T, h Harness) {
	if h.Features.NoDefaultApp {
		t.Skip("backend lacks the default app id (Features.NoDefaultApp)")
	}
	c := ctx(t)
	w, r := h.Open(t, ""), h.Open(t, "")
	named := open(t, h)
	u := NewAppID() // unique to this test
	inv := topLevel(state.InvocationID(u+"-inv"), "default_"+u, map[string]string{"x": "1"})
	kid := child(state.InvocationID(u+"-kid"), "step", inv)
	rec := record(state.StatusRunning, baseTime)
	rc := chain(runner(u+"-runner", "Cls", 1, "h", 2), runner(u+"-parent", "P", 3, "h", 4))
	info := state.AppInfo{AppID: u, Module: "default.module"}
	mustUpsert(t, w, inv, kid)
	mustAddHistory(t, w, rec, inv.ID)
	noErr(t, "SetResult", w.SetResult(c, inv.ID, []byte("result")))
	noErr(t, "SetException", w.SetException(c, kid.ID, []byte("exception")))
	mustStoreRun(t, w, inv.Workflow)
	noErr(t, "SetWorkflowData", w.SetWorkflowData(c, inv.ID, "k", []byte("data")))
	noErr(t, "StoreWorkflowSubInvocation", w.StoreWorkflowSubInvocation(c, inv.ID, kid.ID))
	mustStoreRunner(t, w, rc)
	noErr(t, "StoreAppInfo", w.StoreAppInfo(c, info))

	// Everything is visible through another backend on the default app.
	wantInvocation(t, "Invocation through a second default backend", mustInvocation(t, r, inv.ID), inv)
	ids, err := r.InvocationIDsByWorkflow(c, state.WorkflowFilter{WorkflowID: inv.ID})
	noErr(t, "InvocationIDsByWorkflow", err)
	wantIDs(t, "InvocationIDsByWorkflow(workflow)", ids, []state.InvocationID{inv.ID, kid.ID})
	if all := allInvocationIDs(t, r); !slices.Contains(all, inv.ID) {
		t.Fatalf("InvocationIDsByWorkflow(zero filter) through the default app lacks %q", inv.ID)
	}
	wantHistory(t, "History", mustHistory(t, r, inv.ID), []state.InvocationHistory{stored(inv.ID, rec)})
	inRange, err := firstErr(r.HistoryInTimeRange(c, baseTime, baseTime, 100))
	noErr(t, "HistoryInTimeRange", err)
	if !slices.ContainsFunc(inRange, func(h state.InvocationHistory) bool { return sameRecord(h, stored(inv.ID, rec)) }) {
		t.Fatalf("HistoryInTimeRange through the default app lacks the record of %q", inv.ID)
	}
	idsInRange, err := firstErr(r.InvocationIDsInTimeRange(c, baseTime, baseTime, 100))
	noErr(t, "InvocationIDsInTimeRange", err)
	if !slices.Contains(idsInRange, inv.ID) {
		t.Fatalf("InvocationIDsInTimeRange through the default app lacks %q", inv.ID)
	}
	data, err := r.Result(c, inv.ID)
	noErr(t, "Result", err)
	wantBytes(t, "Result", data, []byte("result"))
	data, err = r.Exception(c, kid.ID)
	noErr(t, "Exception", err)
	wantBytes(t, "Exception", data, []byte("exception"))
	wantRunsOfType(t, r, inv.Workflow.WorkflowType, inv.Workflow)
	wantData(t, r, inv.ID, "k", []byte("data"))
	wantSubs(t, r, inv.ID, kid.ID)
	wantRunner(t, "RunnerContext", mustRunner(t, r, rc.RunnerID), rc)
	wantRunners(t, "MatchRunnerContexts", wantMatch(t, r, u, u+"-parent", u+"-runner"),
		[]state.RunnerContext{*rc.Parent, rc})
	wantAppInfo(t, r, info)

	// None of it is visible through a named app, and the default app is
	// among the apps it discovers.
	_, err = named.Invocation(c, inv.ID)
	wantNotFound(t, "Invocation through a named app", err)
	_, err = named.Result(c, inv.ID)
	wantNotFound(t, "Result through a named app", err)
	_, err = named.RunnerContext(c, rc.RunnerID)
	wantNotFound(t, "RunnerContext through a named app", err)
	_, err = named.WorkflowData(c, inv.ID, "k")
	wantNotFound(t, "WorkflowData through a named app", err)
	wantHistory(t, "History through a named app", mustHistory(t, named, inv.ID), nil)
	wantRunsOfType(t, named, inv.Workflow.WorkflowType)
	wantMatch(t, named, u)
	_, err = named.AppInfo(c, u)
	wantNotFound(t, "AppInfo through a named app", err)
	all, err := named.DiscoverAppInfos(c)
	noErr(t, "DiscoverAppInfos", err)
	if got, ok := all[u]; !ok || got.Module != info.Module {
		t.Fatalf("DiscoverAppInfos through a named app: [%q] = %+v, %v; want the default app's info", u, got, ok)
	}
	// Writes through a named app do not reach the default app.
	mustUpsert(t, named, topLevel(inv.ID, "named_"+u, nil))
	wantInvocation(t, "Invocation through the default app after a named app wrote the same id",
		mustInvocation(t, r, inv.ID), inv)
}
