package conformance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// lifecycleTests returns the tests of group "lifecycle": Close and context
// cancellation.
func lifecycleTests() []Test {
	tests := []Test{
		{Name: "closed_backend_fails_every_call", Run: testClosedFails},
		{Name: "close_twice", Run: testCloseTwice},
		{Name: "data_survives_close", Run: testDataSurvivesClose},
		{Name: "cancelled_context_fails_every_call", Run: testCancelledFails},
		{Name: "expired_deadline_fails", Run: testExpiredDeadline},
		{Name: "cancel_during_iteration", Run: testCancelDuringIteration},
	}
	for i := range tests {
		tests[i].Group = "lifecycle"
	}
	return tests
}

// backendCall is one method of Backend called with valid arguments.
type backendCall struct {
	name  string
	write bool
	call  func(c context.Context, b state.Backend) error
}

// iterErr drains a time-range iterator and returns its first error.
func iterErr[T any](seq iter.Seq2[[]T, error]) error {
	_, err := firstErr(seq)
	return err
}

// everyCall returns a call of every Backend method but Close, with valid
// arguments. The writes use ids prefixed "lc-".
func everyCall() []backendCall {
	inv := topLevel("lc-inv", "task", map[string]string{"a": "1"})
	rec := record(state.StatusRunning, baseTime)
	rc := chain(runner("lc-runner", "Cls", 1, "h", 1), runner("lc-parent", "P", 2, "h", 2))
	end := baseTime.Add(time.Hour)
	get := func(_ any, err error) error { return err }
	return []backendCall{
		{"StoreAppInfo", true, func(c context.Context, b state.Backend) error {
			return b.StoreAppInfo(c, state.AppInfo{AppID: "lc-app", Module: "m"})
		}},
		{"AppInfo", false, func(c context.Context, b state.Backend) error { return get(b.AppInfo(c, "lc-app")) }},
		{"DiscoverAppInfos", false, func(c context.Context, b state.Backend) error { return get(b.DiscoverAppInfos(c)) }},
		{"UpsertInvocations", true, func(c context.Context, b state.Backend) error {
			return b.UpsertInvocations(c, []state.Invocation{inv})
		}},
		{"Invocation", false, func(c context.Context, b state.Backend) error { return get(b.Invocation(c, inv.ID)) }},
		{"Invocations", false, func(c context.Context, b state.Backend) error {
			return get(b.Invocations(c, []state.InvocationID{inv.ID}))
		}},
		{"ChildInvocations", false, func(c context.Context, b state.Backend) error { return get(b.ChildInvocations(c, inv.ID)) }},
		{"InvocationIDsByWorkflow", false, func(c context.Context, b state.Backend) error {
			return get(b.InvocationIDsByWorkflow(c, state.WorkflowFilter{}))
		}},
		{"AddHistory", true, func(c context.Context, b state.Backend) error {
			return b.AddHistory(c, []state.InvocationID{inv.ID}, rec)
		}},
		{"History", false, func(c context.Context, b state.Backend) error { return get(b.History(c, inv.ID)) }},
		{"InvocationIDsInTimeRange", false, func(c context.Context, b state.Backend) error {
			return iterErr(b.InvocationIDsInTimeRange(c, baseTime, end, 10))
		}},
		{"HistoryInTimeRange", false, func(c context.Context, b state.Backend) error {
			return iterErr(b.HistoryInTimeRange(c, baseTime, end, 10))
		}},
		{"SetResult", true, func(c context.Context, b state.Backend) error { return b.SetResult(c, inv.ID, []byte("r")) }},
		{"Result", false, func(c context.Context, b state.Backend) error { return get(b.Result(c, inv.ID)) }},
		{"SetException", true, func(c context.Context, b state.Backend) error { return b.SetException(c, inv.ID, []byte("e")) }},
		{"Exception", false, func(c context.Context, b state.Backend) error { return get(b.Exception(c, inv.ID)) }},
		{"StoreWorkflowRun", true, func(c context.Context, b state.Backend) error { return b.StoreWorkflowRun(c, inv.Workflow) }},
		{"WorkflowTypes", false, func(c context.Context, b state.Backend) error { return get(b.WorkflowTypes(c)) }},
		{"WorkflowRuns", false, func(c context.Context, b state.Backend) error { return get(b.WorkflowRuns(c)) }},
		{"WorkflowRunsOfType", false, func(c context.Context, b state.Backend) error {
			return get(b.WorkflowRunsOfType(c, inv.Workflow.WorkflowType))
		}},
		{"SetWorkflowData", true, func(c context.Context, b state.Backend) error {
			return b.SetWorkflowData(c, inv.ID, "k", []byte("v"))
		}},
		{"WorkflowData", false, func(c context.Context, b state.Backend) error { return get(b.WorkflowData(c, inv.ID, "k")) }},
		{"StoreWorkflowSubInvocation", true, func(c context.Context, b state.Backend) error {
			return b.StoreWorkflowSubInvocation(c, inv.ID, "lc-sub")
		}},
		{"WorkflowSubInvocations", false, func(c context.Context, b state.Backend) error {
			return get(b.WorkflowSubInvocations(c, inv.ID))
		}},
		{"StoreRunnerContext", true, func(c context.Context, b state.Backend) error { return b.StoreRunnerContext(c, rc) }},
		{"RunnerContext", false, func(c context.Context, b state.Backend) error { return get(b.RunnerContext(c, rc.RunnerID)) }},
		{"RunnerContexts", false, func(c context.Context, b state.Backend) error {
			return get(b.RunnerContexts(c, []string{rc.RunnerID}))
		}},
		{"MatchRunnerContexts", false, func(c context.Context, b state.Backend) error {
			return get(b.MatchRunnerContexts(c, "lc-"))
		}},
		{"Purge", true, func(c context.Context, b state.Backend) error { return b.Purge(c) }},
	}
}

// wantNothingWritten fails the test unless b holds none of the data the
// writes of everyCall store.
func wantNothingWritten(t *testing.T, b state.Backend) {
	t.Helper()
	c := ctx(t)
	_, err := b.Invocation(c, "lc-inv")
	wantNotFound(t, "Invocation(lc-inv)", err)
	wantIDs(t, "InvocationIDsByWorkflow(zero filter)", allInvocationIDs(t, b), nil)
	wantHistory(t, "History(lc-inv)", mustHistory(t, b, "lc-inv"), nil)
	wantHistory(t, "HistoryInTimeRange(all time)", allHistory(t, b), nil)
	_, err = b.Result(c, "lc-inv")
	wantNotFound(t, "Result(lc-inv)", err)
	_, err = b.Exception(c, "lc-inv")
	wantNotFound(t, "Exception(lc-inv)", err)
	wantRuns(t, b)
	_, err = b.WorkflowData(c, "lc-inv", "k")
	wantNotFound(t, "WorkflowData(lc-inv, k)", err)
	wantSubs(t, b, "lc-inv")
	wantMatch(t, b, "")
	_, err = b.AppInfo(c, "lc-app")
	wantNotFound(t, "AppInfo(lc-app)", err)
}

func testClosedFails(t *testing.T, h Harness) {
	b := open(t, h)
	// Some data, so reads after Close would have something to return.
	for _, bc := range everyCall() {
		if bc.write && bc.name != "Purge" {
			noErr(t, bc.name+" before Close", bc.call(ctx(t), b))
		}
	}
	noErr(t, "Close", b.Close())
	for _, bc := range everyCall() {
		err := bc.call(ctx(t), b)
		if !errors.Is(err, state.ErrClosed) {
			t.Errorf("%s after Close: got error %v, want one wrapping ErrClosed", bc.name, err)
		}
	}
	// Also with arguments that would otherwise be trivial.
	if err := b.UpsertInvocations(ctx(t), nil); !errors.Is(err, state.ErrClosed) {
		t.Errorf("UpsertInvocations(nil) after Close: got error %v, want one wrapping ErrClosed", err)
	}
}

func testCloseTwice(t *testing.T, h Harness) {
	b := open(t, h)
	noErr(t, "first Close", b.Close())
	noErr(t, "second Close", b.Close())
	_, err := b.Invocation(ctx(t), "x")
	wantErr(t, "Invocation after two Closes", err, state.ErrClosed)
}

func testDataSurvivesClose(t *testing.T, h Harness) {
	id := NewAppID()
	b := h.Open(t, id)
	ds := newDataset("a")
	ds.write(t, b)
	noErr(t, "Close", b.Close())
	ds.check(t, h.Open(t, id))
}

func testCancelledFails(t *testing.T, h Harness) {
	b := open(t, h)
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	for _, bc := range everyCall() {
		err := bc.call(cancelled, b)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got error %v, want one wrapping context.Canceled", bc.name, err)
		}
	}
	if t.Failed() {
		return
	}
	// The backend is fine with a live context, and none of the cancelled
	// writes happened.
	wantNothingWritten(t, b)
	for _, bc := range everyCall() {
		noErr(t, bc.name+" with a live context", bc.call(ctx(t), b))
	}
}

func testExpiredDeadline(t *testing.T, h Harness) {
	b := open(t, h)
	expired, cancel := context.WithDeadline(ctx(t), time.Now().Add(-time.Second))
	defer cancel()
	for _, bc := range everyCall() {
		if err := bc.call(expired, b); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired deadline: got error %v, want one wrapping context.DeadlineExceeded", bc.name, err)
		}
	}
	wantNothingWritten(t, b)
}

func testCancelDuringIteration(t *testing.T, h Harness) {
	b := open(t, h)
	for i := range 5 {
		mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(time.Duration(i)*time.Second)),
			state.InvocationID(fmt.Sprintf("it-%d", i)))
	}
	end := baseTime.Add(time.Hour)
	check := func(name string, steps func(c context.Context) func(yield func(int, error) bool)) {
		t.Helper()
		c, cancel := context.WithCancel(ctx(t))
		defer cancel()
		batches := 0
		var last error
		for n, err := range steps(c) {
			if err != nil {
				last = err
				if n != 0 {
					t.Errorf("%s: error yielded with a batch of %d items", name, n)
				}
				continue
			}
			batches++
			if last != nil {
				t.Fatalf("%s: a batch was yielded after the error %v", name, last)
			}
			cancel()
		}
		if batches != 1 || !errors.Is(last, context.Canceled) {
			t.Fatalf("%s cancelled after the first batch: got %d batches and error %v, want 1 batch and context.Canceled",
				name, batches, last)
		}
	}
	check("HistoryInTimeRange", func(c context.Context) func(func(int, error) bool) {
		return func(yield func(int, error) bool) {
			for batch, err := range b.HistoryInTimeRange(c, baseTime, end, 2) {
				if !yield(len(batch), err) {
					return
				}
			}
		}
	})
	check("InvocationIDsInTimeRange", func(c context.Context) func(func(int, error) bool) {
		return func(yield func(int, error) bool) {
			for batch, err := range b.InvocationIDsInTimeRange(c, baseTime, end, 2) {
				if !yield(len(batch), err) {
					return
				}
			}
		}
	})
}
