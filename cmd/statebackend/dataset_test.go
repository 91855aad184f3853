package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
)

// base is the first timestamp of the test dataset.
var base = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)

// seed writes a deterministic dataset of n invocations for appID through
// the library: app info, two runners (a parent and a child), invocations
// in workflows of 5 (a top-level one and 4 children, one of them starting
// a sub-workflow), 4 history records each 1 ms apart (every third invocation registered
// at the timestamp the previous one finished),
// results (JSON, text, one larger than inspect shows), exceptions,
// workflow runs, sub-invocations and workflow data.
func seed(ctx context.Context, b statebackend.Backend, appID string, n int) error {
	if err := b.StoreAppInfo(ctx, statebackend.AppInfo{
		AppID: appID, Module: "tests.app", ConfigValues: map[string]any{"workers": 4.0, "queue": "default"},
		AppVariable: "app",
	}); err != nil {
		return err
	}
	root := statebackend.RunnerContext{RunnerCls: "PersistentProcessRunner", RunnerID: "runner-root", PID: 100, Hostname: "host-a"}
	child := statebackend.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: "runner-1", Parent: &root, PID: 101, Hostname: "host-a", ThreadID: 7}
	if err := b.StoreRunnerContext(ctx, child); err != nil {
		return err
	}
	build := statebackend.TaskID{Module: "reports", FuncName: "build"}
	fetch := statebackend.TaskID{Module: "reports.sources", FuncName: "fetch"}
	invs := make([]statebackend.Invocation, n)
	for i := range invs {
		id := invID(i)
		top := invID(i - i%5)
		wf := statebackend.WorkflowIdentity{WorkflowID: statebackend.InvocationID(top), WorkflowType: build}
		inv := statebackend.Invocation{ID: statebackend.InvocationID(id), Workflow: wf}
		switch {
		case i%5 == 0:
			inv.CallID = statebackend.CallID{Task: build, ArgsID: statebackend.NoArgs}
			if err := b.StoreWorkflowRun(ctx, wf); err != nil {
				return err
			}
		case i%5 == 4:
			// A child that starts a sub-workflow of its own.
			inv.CallID = statebackend.CallID{Task: fetch, ArgsID: fmt.Sprintf("args-%d", i)}
			inv.Arguments = map[string]string{"region": fmt.Sprintf(`"r%d"`, i), "retries": "3"}
			inv.ParentInvocationID = statebackend.InvocationID(top)
			inv.Workflow = statebackend.WorkflowIdentity{WorkflowID: inv.ID, WorkflowType: fetch, ParentWorkflowID: wf.WorkflowID}
			if err := b.StoreWorkflowRun(ctx, inv.Workflow); err != nil {
				return err
			}
		default:
			inv.CallID = statebackend.CallID{Task: fetch, ArgsID: fmt.Sprintf("args-%d", i)}
			inv.Arguments = map[string]string{"region": fmt.Sprintf(`"r%d"`, i)}
			inv.ParentInvocationID = statebackend.InvocationID(top)
			if err := b.StoreWorkflowSubInvocation(ctx, wf.WorkflowID, inv.ID); err != nil {
				return err
			}
		}
		invs[i] = inv
	}
	for chunk := range slices.Chunk(invs, 500) {
		if err := b.UpsertInvocations(ctx, chunk); err != nil {
			return err
		}
	}
	statuses := []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusPending, statebackend.StatusRunning, statebackend.StatusSuccess}
	var recs []statebackend.InvocationHistory
	for i, inv := range invs {
		for s, status := range statuses {
			ts := base.Add(time.Duration(4*i+s) * time.Millisecond).Add(time.Duration(i%7) * time.Microsecond)
			if s == 0 && i%3 == 1 {
				// Registered as the previous invocation finished: equal
				// timestamps in two invocations' histories.
				ts = base.Add(time.Duration(4*(i-1)+3) * time.Millisecond).Add(time.Duration((i-1)%7) * time.Microsecond)
			}
			if i%5 == 2 && s == 3 {
				status = statebackend.StatusFailed
			}
			h := statebackend.InvocationHistory{
				InvocationID: inv.ID, Timestamp: ts, RunnerContextID: "runner-1",
				StatusRecord: statebackend.StatusRecord{Status: status, Timestamp: ts},
			}
			if s >= 1 {
				h.StatusRecord.RunnerID = "runner-1"
			}
			if s == 0 && inv.ParentInvocationID != "" {
				h.RegisteredByInvID = inv.ParentInvocationID
			}
			recs = append(recs, h)
		}
	}
	imp := b.(interface {
		ImportHistory(context.Context, []statebackend.InvocationHistory) error
	})
	for chunk := range slices.Chunk(recs, 1000) {
		if err := imp.ImportHistory(ctx, chunk); err != nil {
			return err
		}
	}
	for i, inv := range invs {
		var err error
		switch {
		case i%5 == 2:
			err = b.SetException(ctx, inv.ID, []byte(`{"error_name":"ValueError","pynenc_error":false,"error_data":"bad region r`+fmt.Sprint(i)+`"}`))
		case i == 0:
			err = b.SetResult(ctx, inv.ID, []byte(`{"pages": 12, "file": "report.pdf"}`))
		case i == 1:
			err = b.SetResult(ctx, inv.ID, []byte(strings.Repeat("0123456789abcdef", 200)))
		default:
			err = b.SetResult(ctx, inv.ID, []byte(fmt.Sprintf(`"result-%d"`, i)))
		}
		if err != nil {
			return err
		}
		if i%5 == 0 {
			if err := b.SetWorkflowData(ctx, inv.ID, "cursor", []byte(fmt.Sprint(i))); err != nil {
				return err
			}
			if err := b.SetWorkflowData(ctx, inv.ID, "started", []byte(`"2025-01-15T12:00:00+00:00"`)); err != nil {
				return err
			}
		}
	}
	return nil
}

// invID is the id of the i-th invocation of the dataset.
func invID(i int) string { return fmt.Sprintf("inv-%05d", i) }

// assertSameState checks through the library's API that b holds the same
// state as a: app info, invocations, histories (order included), results,
// exceptions, runner contexts, workflow runs, sub-invocations and the
// workflow data keys in dataKeys.
func assertSameState(t *testing.T, a, b statebackend.Backend, dataKeys []string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	infosA, err := a.DiscoverAppInfos(ctx)
	must(err)
	infosB, err := b.DiscoverAppInfos(ctx)
	must(err)
	for id, info := range infosA {
		if got, ok := infosB[id]; !ok || fmt.Sprint(got) != fmt.Sprint(info) {
			t.Errorf("app info %q: got %+v, want %+v", id, got, info)
		}
	}
	idsA, err := a.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
	must(err)
	idsB, err := b.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
	must(err)
	if !slices.Equal(idsA, idsB) {
		t.Fatalf("invocation ids differ: %d vs %d", len(idsA), len(idsB))
	}
	for chunk := range slices.Chunk(idsA, 500) {
		ia, err := a.Invocations(ctx, chunk)
		must(err)
		ib, err := b.Invocations(ctx, chunk)
		must(err)
		for _, id := range chunk {
			if fmt.Sprint(ia[id]) != fmt.Sprint(ib[id]) {
				t.Errorf("invocation %s: %+v vs %+v", id, ia[id], ib[id])
			}
		}
	}
	for _, id := range idsA {
		ha, err := a.History(ctx, id)
		must(err)
		hb, err := b.History(ctx, id)
		must(err)
		if !equalHistory(ha, hb) {
			t.Errorf("history of %s: %v vs %v", id, ha, hb)
		}
		for _, get := range []func(statebackend.Backend) ([]byte, error){
			func(x statebackend.Backend) ([]byte, error) { return x.Result(ctx, id) },
			func(x statebackend.Backend) ([]byte, error) { return x.Exception(ctx, id) },
		} {
			pa, errA := get(a)
			pb, errB := get(b)
			if string(pa) != string(pb) || (errA == nil) != (errB == nil) {
				t.Errorf("payload of %s: %q (%v) vs %q (%v)", id, pa, errA, pb, errB)
			}
		}
	}
	// The whole history in time order, ties included.
	var allA, allB []statebackend.InvocationHistory
	for recs, err := range a.HistoryInTimeRange(ctx, minTime, maxTime, 1000) {
		must(err)
		allA = append(allA, recs...)
	}
	for recs, err := range b.HistoryInTimeRange(ctx, minTime, maxTime, 1000) {
		must(err)
		allB = append(allB, recs...)
	}
	if !equalHistory(allA, allB) {
		t.Errorf("histories in time order differ (%d vs %d records)", len(allA), len(allB))
	}
	ra, err := a.MatchRunnerContexts(ctx, "")
	must(err)
	rb, err := b.MatchRunnerContexts(ctx, "")
	must(err)
	if len(ra) != len(rb) {
		t.Errorf("runner contexts: %d vs %d", len(ra), len(rb))
	}
	for i := range min(len(ra), len(rb)) {
		if !ra[i].Equal(&rb[i]) {
			t.Errorf("runner context %s differs", ra[i].RunnerID)
		}
	}
	wa, err := a.WorkflowRuns(ctx)
	must(err)
	wb, err := b.WorkflowRuns(ctx)
	must(err)
	if !slices.Equal(wa, wb) {
		t.Errorf("workflow runs differ: %v vs %v", wa, wb)
	}
	for _, w := range wa {
		sa, err := a.WorkflowSubInvocations(ctx, w.WorkflowID)
		must(err)
		sb, err := b.WorkflowSubInvocations(ctx, w.WorkflowID)
		must(err)
		if !slices.Equal(sa, sb) {
			t.Errorf("sub-invocations of %s: %v vs %v", w.WorkflowID, sa, sb)
		}
		for _, k := range dataKeys {
			da, errA := a.WorkflowData(ctx, w.WorkflowID, k)
			db, errB := b.WorkflowData(ctx, w.WorkflowID, k)
			if string(da) != string(db) || (errA == nil) != (errB == nil) {
				t.Errorf("workflow data %s/%s: %q vs %q", w.WorkflowID, k, da, db)
			}
		}
	}
}

func equalHistory(a, b []statebackend.InvocationHistory) bool {
	return slices.EqualFunc(a, b, func(x, y statebackend.InvocationHistory) bool {
		return string(x.AppendJSON(nil)) == string(y.AppendJSON(nil))
	})
}
