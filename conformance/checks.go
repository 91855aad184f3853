package conformance

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Helpers of the workflows, runners, appinfo, purge, isolation, validation,
// lifecycle and concurrency groups.

// noErr fails the test if err is not nil.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantNotFound fails the test unless err wraps ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, state.ErrNotFound)
}

// wantInvalid fails the test unless err wraps ErrInvalidArgument.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, state.ErrInvalidArgument)
}

// wantSlice fails the test unless got holds exactly want, in order; nil and
// empty are the same.
func wantSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %+v\nwant %+v", what, got, want)
	}
}

// firstErr runs a batched iterator to its end or its first error and
// returns the items seen and that error.
func firstErr[T any](seq iter.Seq2[[]T, error]) ([]T, error) {
	var all []T
	for batch, err := range seq {
		if err != nil {
			return all, err
		}
		all = append(all, batch...)
	}
	return all, nil
}

// maxTimestamp is the latest timestamp a backend must accept.
var maxTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)

// minTimestamp is the earliest non-zero timestamp a backend must accept.
var minTimestamp = time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)

// allHistory returns every history record of b in the time range
// [minTimestamp, maxTimestamp].
func allHistory(t *testing.T, b state.Backend) []state.InvocationHistory {
	t.Helper()
	hs, err := firstErr(b.HistoryInTimeRange(ctx(t), minTimestamp, maxTimestamp, 500))
	noErr(t, "HistoryInTimeRange(all time)", err)
	return hs
}

// allInvocationIDsWithHistory returns every invocation id of b with a
// history record in [minTimestamp, maxTimestamp].
func allInvocationIDsWithHistory(t *testing.T, b state.Backend) []state.InvocationID {
	t.Helper()
	ids, err := firstErr(b.InvocationIDsInTimeRange(ctx(t), minTimestamp, maxTimestamp, 500))
	noErr(t, "InvocationIDsInTimeRange(all time)", err)
	return ids
}

// allInvocationIDs returns InvocationIDsByWorkflow with the zero filter.
func allInvocationIDs(t *testing.T, b state.Backend) []state.InvocationID {
	t.Helper()
	ids, err := b.InvocationIDsByWorkflow(ctx(t), state.WorkflowFilter{})
	noErr(t, "InvocationIDsByWorkflow(zero filter)", err)
	return ids
}

// runner returns a root runner context.
func runner(id, cls string, pid int, host string, thread int64) state.RunnerContext {
	return state.RunnerContext{RunnerCls: cls, RunnerID: id, PID: pid, Hostname: host, ThreadID: thread}
}

// chain links rcs into one context: rcs[0] is the result, rcs[i+1] the
// parent of rcs[i], the last one a root. The inputs are copied and their own
// Parent fields ignored.
func chain(rcs ...state.RunnerContext) state.RunnerContext {
	var parent *state.RunnerContext
	for i := len(rcs) - 1; i >= 0; i-- {
		c := rcs[i]
		c.Parent = parent
		parent = &c
	}
	return *parent
}

// describeRunner formats a runner context and its parent chain.
func describeRunner(rc *state.RunnerContext) string {
	var parts []string
	for c := rc; c != nil && len(parts) <= state.MaxRunnerDepth; c = c.Parent {
		parts = append(parts, fmt.Sprintf("{cls %q id %q pid %d host %q thread %d}",
			c.RunnerCls, c.RunnerID, c.PID, c.Hostname, c.ThreadID))
	}
	if len(parts) == 0 {
		return "<nil>"
	}
	return strings.Join(parts, " -> parent ")
}

// sameRunner compares two contexts field by field, parents included,
// independently of RunnerContext.Equal.
func sameRunner(a, b *state.RunnerContext) bool {
	for depth := 0; depth <= state.MaxRunnerDepth+1; depth++ {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		if a.RunnerCls != b.RunnerCls || a.RunnerID != b.RunnerID || a.PID != b.PID ||
			a.Hostname != b.Hostname || a.ThreadID != b.ThreadID {
			return false
		}
		a, b = a.Parent, b.Parent
	}
	return false
}

// wantRunner fails the test unless got equals want in every field, through
// the whole parent chain.
func wantRunner(t *testing.T, what string, got, want state.RunnerContext) {
	t.Helper()
	if !got.Equal(&want) || !sameRunner(&got, &want) {
		t.Fatalf("%s:\n got  %s\nwant %s", what, describeRunner(&got), describeRunner(&want))
	}
}

// wantRunners fails the test unless got holds exactly want, in order.
func wantRunners(t *testing.T, what string, got, want []state.RunnerContext) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Equal(&want[i]) && sameRunner(&got[i], &want[i])
	}
	if !ok {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s: got %d contexts, want %d\ngot:\n", what, len(got), len(want))
		for i := range got {
			fmt.Fprintf(&sb, "  [%d] %s\n", i, describeRunner(&got[i]))
		}
		sb.WriteString("want:\n")
		for i := range want {
			fmt.Fprintf(&sb, "  [%d] %s\n", i, describeRunner(&want[i]))
		}
		t.Fatal(sb.String())
	}
}

// mustRunner returns the runner context id or fails the test.
func mustRunner(t *testing.T, b state.Backend, id string) state.RunnerContext {
	t.Helper()
	rc, err := b.RunnerContext(ctx(t), id)
	noErr(t, fmt.Sprintf("RunnerContext(%q)", id), err)
	return rc
}

// mustStoreRunner stores rc or fails the test.
func mustStoreRunner(t *testing.T, b state.Backend, rc state.RunnerContext) {
	t.Helper()
	noErr(t, fmt.Sprintf("StoreRunnerContext(%q)", rc.RunnerID), b.StoreRunnerContext(ctx(t), rc))
}

// mustStoreRun stores wf or fails the test.
func mustStoreRun(t *testing.T, b state.Backend, wf state.WorkflowIdentity) {
	t.Helper()
	noErr(t, fmt.Sprintf("StoreWorkflowRun(%q)", wf.WorkflowID), b.StoreWorkflowRun(ctx(t), wf))
}

// wantRuns fails the test unless WorkflowRuns returns exactly want.
func wantRuns(t *testing.T, b state.Backend, want ...state.WorkflowIdentity) {
	t.Helper()
	got, err := b.WorkflowRuns(ctx(t))
	noErr(t, "WorkflowRuns", err)
	wantSlice(t, "WorkflowRuns", got, want)
}

// wantRunsOfType fails the test unless WorkflowRunsOfType(typ) returns
// exactly want.
func wantRunsOfType(t *testing.T, b state.Backend, typ state.TaskID, want ...state.WorkflowIdentity) {
	t.Helper()
	what := fmt.Sprintf("WorkflowRunsOfType(%s)", typ.Key())
	got, err := b.WorkflowRunsOfType(ctx(t), typ)
	noErr(t, what, err)
	wantSlice(t, what, got, want)
}

// wantTypes fails the test unless WorkflowTypes returns exactly want.
func wantTypes(t *testing.T, b state.Backend, want ...state.TaskID) {
	t.Helper()
	got, err := b.WorkflowTypes(ctx(t))
	noErr(t, "WorkflowTypes", err)
	wantSlice(t, "WorkflowTypes", got, want)
}

// wantData fails the test unless WorkflowData(wf, key) is exactly want.
func wantData(t *testing.T, b state.Backend, wf state.InvocationID, key string, want []byte) {
	t.Helper()
	what := fmt.Sprintf("WorkflowData(%q, %q)", wf, key)
	got, err := b.WorkflowData(ctx(t), wf, key)
	noErr(t, what, err)
	wantBytes(t, what, got, want)
}

// wantSubs fails the test unless WorkflowSubInvocations(wf) is exactly want.
func wantSubs(t *testing.T, b state.Backend, wf state.InvocationID, want ...state.InvocationID) {
	t.Helper()
	what := fmt.Sprintf("WorkflowSubInvocations(%q)", wf)
	got, err := b.WorkflowSubInvocations(ctx(t), wf)
	noErr(t, what, err)
	wantIDs(t, what, got, want)
}

// wantMatch fails the test unless MatchRunnerContexts(sub) returns the
// contexts with exactly the runner ids want, in order.
func wantMatch(t *testing.T, b state.Backend, sub string, want ...string) []state.RunnerContext {
	t.Helper()
	what := fmt.Sprintf("MatchRunnerContexts(%q)", sub)
	got, err := b.MatchRunnerContexts(ctx(t), sub)
	noErr(t, what, err)
	ids := make([]string, len(got))
	for i, rc := range got {
		ids[i] = rc.RunnerID
	}
	if len(ids) != len(want) || !slices.Equal(ids, want) {
		t.Fatalf("%s: got runner ids %q, want %q", what, ids, want)
	}
	return got
}
