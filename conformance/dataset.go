package conformance

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// dataset is one of every kind of record a backend stores, for the purge and
// isolation tests. Datasets built with different tags share their ids
// (wf-root, wf-child, node-shared, app-shared...) but not their contents, and
// each has one invocation id of its own, so a read through the wrong app
// returns recognisably wrong data.
type dataset struct {
	tag        string
	root, kid  state.Invocation
	own        state.Invocation
	history    []historyWrite
	results    map[state.InvocationID][]byte
	exceptions map[state.InvocationID][]byte
	runs       []state.WorkflowIdentity // ascending by workflow id
	dataKey    string
	data       map[state.InvocationID][]byte // under dataKey
	subs       []state.InvocationID          // of root, ascending
	runner     state.RunnerContext
	info       state.AppInfo
}

// historyWrite is one AddHistory call.
type historyWrite struct {
	ids []state.InvocationID
	rec state.InvocationHistory
}

func newDataset(tag string) dataset {
	root := topLevel("wf-root", "flow", map[string]string{"tag": tag})
	kid := child("wf-child", "step", root)
	own := topLevel(state.InvocationID("own-"+tag), "solo_"+tag, nil)
	own.Workflow.ParentWorkflowID = root.ID
	at := func(s int) time.Time { return baseTime.Add(time.Duration(s) * time.Second) }
	rec := func(s state.Status, sec int) state.InvocationHistory {
		h := record(s, at(sec))
		h.StatusRecord.RunnerID = "runner-" + tag
		return h
	}
	return dataset{
		tag: tag, root: root, kid: kid, own: own,
		history: []historyWrite{
			{[]state.InvocationID{root.ID, kid.ID}, rec(state.StatusRegistered, 0)},
			{[]state.InvocationID{root.ID}, rec(state.StatusRunning, 1)},
			{[]state.InvocationID{own.ID}, rec(state.StatusRegistered, 2)},
			{[]state.InvocationID{own.ID, root.ID}, rec(state.StatusSuccess, 3)},
		},
		results:    map[state.InvocationID][]byte{root.ID: []byte("result-" + tag), own.ID: {0, 0xff, tag[0]}},
		exceptions: map[state.InvocationID][]byte{kid.ID: []byte("exception-" + tag)},
		runs:       []state.WorkflowIdentity{own.Workflow, root.Workflow},
		dataKey:    "counter",
		data:       map[state.InvocationID][]byte{root.ID: []byte("data-" + tag), own.ID: {}},
		subs:       []state.InvocationID{own.ID, kid.ID},
		runner: chain(
			runner("runner-"+tag, "ThreadRunner", 100, "host-"+tag, 140234567890123),
			runner("node-shared", "ProcessRunner", len(tag), "host-"+tag, 7),
		),
		info: state.AppInfo{AppID: "app-shared", Module: "mod_" + tag, ConfigValues: map[string]any{"tag": tag}},
	}
}

func (ds dataset) invocations() []state.Invocation {
	return []state.Invocation{ds.own, ds.root, ds.kid}
}

// ids returns the invocation ids of ds, ascending.
func (ds dataset) ids() []state.InvocationID {
	return []state.InvocationID{ds.own.ID, ds.kid.ID, ds.root.ID}
}

// historyOf returns the history ds gives id, as the backend returns it.
func (ds dataset) historyOf(id state.InvocationID) []state.InvocationHistory {
	var out []state.InvocationHistory
	for _, w := range ds.history {
		if slices.Contains(w.ids, id) {
			out = append(out, stored(id, w.rec))
		}
	}
	return out
}

// allRecords returns every record of ds sorted by (timestamp, invocation id).
func (ds dataset) allRecords() []state.InvocationHistory {
	var out []state.InvocationHistory
	for _, id := range ds.ids() {
		out = append(out, ds.historyOf(id)...)
	}
	sortRecords(out)
	return out
}

// sortRecords sorts hs by (timestamp, invocation id), the order records with
// equal timestamps written by one AddHistory call are compared in.
func sortRecords(hs []state.InvocationHistory) {
	slices.SortStableFunc(hs, func(a, b state.InvocationHistory) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.InvocationID, b.InvocationID))
	})
}

// write stores ds through b.
func (ds dataset) write(t *testing.T, b state.Backend) {
	t.Helper()
	c := ctx(t)
	mustUpsert(t, b, ds.invocations()...)
	for _, w := range ds.history {
		mustAddHistory(t, b, w.rec, w.ids...)
	}
	for id, data := range ds.results {
		noErr(t, "SetResult", b.SetResult(c, id, data))
	}
	for id, data := range ds.exceptions {
		noErr(t, "SetException", b.SetException(c, id, data))
	}
	for _, wf := range ds.runs {
		mustStoreRun(t, b, wf)
	}
	for id, v := range ds.data {
		noErr(t, "SetWorkflowData", b.SetWorkflowData(c, id, ds.dataKey, v))
	}
	for _, id := range ds.subs {
		noErr(t, "StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(c, ds.root.ID, id))
	}
	mustStoreRunner(t, b, ds.runner)
	noErr(t, "StoreAppInfo", b.StoreAppInfo(c, ds.info))
}

// check fails the test unless every read of b returns exactly ds.
func (ds dataset) check(t *testing.T, b state.Backend) {
	t.Helper()
	c := ctx(t)
	for _, inv := range ds.invocations() {
		wantInvocation(t, fmt.Sprintf("Invocation(%q)", inv.ID), mustInvocation(t, b, inv.ID), inv)
	}
	got, err := b.Invocations(c, append(ds.ids(), "missing"))
	noErr(t, "Invocations", err)
	if want := ds.invocations(); len(got) != len(want) {
		t.Fatalf("Invocations: got %d invocations (%v), want %d", len(got), slices.Sorted(maps.Keys(got)), len(want))
	}
	for _, inv := range ds.invocations() {
		wantInvocation(t, fmt.Sprintf("Invocations()[%q]", inv.ID), got[inv.ID], inv)
	}
	wantIDs(t, "InvocationIDsByWorkflow(zero filter)", allInvocationIDs(t, b), ds.ids())
	byWF, err := b.InvocationIDsByWorkflow(c, state.WorkflowFilter{WorkflowID: ds.root.ID})
	noErr(t, "InvocationIDsByWorkflow(root)", err)
	wantIDs(t, "InvocationIDsByWorkflow(root)", byWF, []state.InvocationID{ds.kid.ID, ds.root.ID})
	kids, err := b.ChildInvocations(c, ds.root.ID)
	noErr(t, "ChildInvocations", err)
	wantIDs(t, "ChildInvocations(root)", kids, []state.InvocationID{ds.kid.ID})
	for _, id := range ds.ids() {
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), ds.historyOf(id))
	}
	all := allHistory(t, b)
	sortRecords(all)
	wantHistory(t, "HistoryInTimeRange(all time)", all, ds.allRecords())
	wantIDs(t, "InvocationIDsInTimeRange(all time)", allInvocationIDsWithHistory(t, b), ds.ids())
	for id, want := range ds.results {
		data, err := b.Result(c, id)
		noErr(t, "Result", err)
		wantBytes(t, fmt.Sprintf("Result(%q)", id), data, want)
	}
	for id, want := range ds.exceptions {
		data, err := b.Exception(c, id)
		noErr(t, "Exception", err)
		wantBytes(t, fmt.Sprintf("Exception(%q)", id), data, want)
	}
	wantRuns(t, b, ds.runs...)
	wantTypes(t, b, ds.root.Workflow.WorkflowType, ds.own.Workflow.WorkflowType)
	wantRunsOfType(t, b, ds.root.Workflow.WorkflowType, ds.root.Workflow)
	for id, want := range ds.data {
		wantData(t, b, id, ds.dataKey, want)
	}
	wantSubs(t, b, ds.root.ID, ds.subs...)
	wantRunner(t, "RunnerContext", mustRunner(t, b, ds.runner.RunnerID), ds.runner)
	wantRunner(t, "RunnerContext(parent)", mustRunner(t, b, ds.runner.Parent.RunnerID), *ds.runner.Parent)
	wantRunners(t, "MatchRunnerContexts(\"\")", wantMatch(t, b, "", "node-shared", ds.runner.RunnerID),
		[]state.RunnerContext{*ds.runner.Parent, ds.runner})
	info, err := b.AppInfo(c, ds.info.AppID)
	noErr(t, "AppInfo", err)
	if !reflect.DeepEqual(info, ds.info) {
		t.Fatalf("AppInfo(%q):\n got  %+v\nwant %+v", ds.info.AppID, info, ds.info)
	}
}

// checkAbsent fails the test unless no read of b returns anything of ds.
func (ds dataset) checkAbsent(t *testing.T, b state.Backend) {
	t.Helper()
	c := ctx(t)
	for _, id := range ds.ids() {
		_, err := b.Invocation(c, id)
		wantNotFound(t, fmt.Sprintf("Invocation(%q)", id), err)
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), nil)
		_, err = b.Result(c, id)
		wantNotFound(t, fmt.Sprintf("Result(%q)", id), err)
		_, err = b.Exception(c, id)
		wantNotFound(t, fmt.Sprintf("Exception(%q)", id), err)
		_, err = b.WorkflowData(c, id, ds.dataKey)
		wantNotFound(t, fmt.Sprintf("WorkflowData(%q, %q)", id, ds.dataKey), err)
		wantSubs(t, b, id)
	}
	got, err := b.Invocations(c, ds.ids())
	noErr(t, "Invocations", err)
	if len(got) != 0 {
		t.Fatalf("Invocations(%q): got %v, want none", ds.ids(), slices.Sorted(maps.Keys(got)))
	}
	wantIDs(t, "InvocationIDsByWorkflow(zero filter)", allInvocationIDs(t, b), nil)
	byWF, err := b.InvocationIDsByWorkflow(c, state.WorkflowFilter{WorkflowID: ds.root.ID})
	noErr(t, "InvocationIDsByWorkflow(root)", err)
	wantIDs(t, "InvocationIDsByWorkflow(root)", byWF, nil)
	byType, err := b.InvocationIDsByWorkflow(c, state.WorkflowFilter{WorkflowType: ds.root.Workflow.WorkflowType})
	noErr(t, "InvocationIDsByWorkflow(type)", err)
	wantIDs(t, "InvocationIDsByWorkflow(type)", byType, nil)
	kids, err := b.ChildInvocations(c, ds.root.ID)
	noErr(t, "ChildInvocations", err)
	wantIDs(t, "ChildInvocations(root)", kids, nil)
	wantHistory(t, "HistoryInTimeRange(all time)", allHistory(t, b), nil)
	wantIDs(t, "InvocationIDsInTimeRange(all time)", allInvocationIDsWithHistory(t, b), nil)
	wantRuns(t, b)
	wantTypes(t, b)
	wantRunsOfType(t, b, ds.root.Workflow.WorkflowType)
	for _, rc := range ds.runner.Chain() {
		_, err := b.RunnerContext(c, rc.RunnerID)
		wantNotFound(t, fmt.Sprintf("RunnerContext(%q)", rc.RunnerID), err)
	}
	rcs, err := b.RunnerContexts(c, []string{ds.runner.RunnerID, "node-shared"})
	noErr(t, "RunnerContexts", err)
	wantRunners(t, "RunnerContexts", rcs, nil)
	wantMatch(t, b, "")
	wantMatch(t, b, "runner-")
	_, err = b.AppInfo(c, ds.info.AppID)
	wantNotFound(t, fmt.Sprintf("AppInfo(%q)", ds.info.AppID), err)
}
