package conformance

import (
	"testing"

	"github.com/taskstate/statebackend/state"
)

// workflowTests returns the tests of group "workflows": workflow runs and
// types, workflow data and sub-invocations.
func workflowTests() []Test {
	tests := []Test{
		{Name: "run_stored_three_times_is_one_run", Run: testRunStoredThreeTimes},
		{Name: "types_and_runs", Run: testWorkflowTypesAndRuns},
		{Name: "empty_and_unknown_type", Run: testWorkflowEmptyAndUnknownType},
		{Name: "run_stored_again_replaces", Run: testRunStoredAgainReplaces},
		{Name: "subworkflow_parent_round_trips", Run: testSubworkflowParent},
		{Name: "data_round_trips_byte_exact", Run: testWorkflowDataRoundTrip},
		{Name: "data_overwrite", Run: testWorkflowDataOverwrite},
		{Name: "data_missing_is_not_found", Run: testWorkflowDataMissing},
		{Name: "data_isolated_between_runs_and_keys", Run: testWorkflowDataIsolated},
		{Name: "sub_invocations_are_a_set", Run: testSubInvocationsSet},
	}
	for i := range tests {
		tests[i].Group = "workflows"
	}
	return tests
}

var (
	wfType1 = state.TaskID{Module: "module", FuncName: "func_1"}
	wfType2 = state.TaskID{Module: "module", FuncName: "func_2"}
)

func testRunStoredThreeTimes(t *testing.T, h Harness) {
	b := open(t, h)
	wf := state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType1}
	for range 3 {
		mustStoreRun(t, b, wf)
	}
	wantRunsOfType(t, b, wfType1, wf)
	wantRuns(t, b, wf)
	wantTypes(t, b, wfType1)
	got, err := b.WorkflowRunsOfType(ctx(t), wfType1)
	noErr(t, "WorkflowRunsOfType", err)
	if got[0].ParentWorkflowID != "" || got[0].IsSubworkflow() {
		t.Fatalf("ParentWorkflowID = %q, want empty (a top-level workflow)", got[0].ParentWorkflowID)
	}
}

func testWorkflowTypesAndRuns(t *testing.T, h Harness) {
	b := open(t, h)
	wf1 := state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType1}
	wf2 := state.WorkflowIdentity{WorkflowID: "wf-2", WorkflowType: wfType1}
	wf3 := state.WorkflowIdentity{WorkflowID: "wf-3", WorkflowType: wfType2}
	// Stored out of order, so insertion order differs from the promised one.
	for _, wf := range []state.WorkflowIdentity{wf3, wf2, wf1} {
		mustStoreRun(t, b, wf)
	}
	wantTypes(t, b, wfType1, wfType2)
	wantRuns(t, b, wf1, wf2, wf3)
	wantRunsOfType(t, b, wfType1, wf1, wf2)
	wantRunsOfType(t, b, wfType2, wf3)
	// A type whose key is a prefix of another's selects only its own runs.
	wantRunsOfType(t, b, state.TaskID{Module: "module", FuncName: "func_"})
	// Modules may contain dots; the type reads back split on the last dot.
	deep := state.WorkflowIdentity{WorkflowID: "wf-0", WorkflowType: state.TaskID{Module: "pkg.sub.mod", FuncName: "flow"}}
	mustStoreRun(t, b, deep)
	wantTypes(t, b, wfType1, wfType2, deep.WorkflowType)
	wantRuns(t, b, deep, wf1, wf2, wf3)
	wantRunsOfType(t, b, deep.WorkflowType, deep)
}

func testWorkflowEmptyAndUnknownType(t *testing.T, h Harness) {
	b := open(t, h)
	wantTypes(t, b)
	wantRuns(t, b)
	wantRunsOfType(t, b, wfType1)
	mustStoreRun(t, b, state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType1})
	wantRunsOfType(t, b, state.TaskID{Module: "module", FuncName: "unknown"})
	wantRunsOfType(t, b, state.TaskID{Module: "MODULE", FuncName: "FUNC_1"})
}

func testRunStoredAgainReplaces(t *testing.T, h Harness) {
	b := open(t, h)
	first := state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType1}
	other := state.WorkflowIdentity{WorkflowID: "wf-2", WorkflowType: wfType1}
	mustStoreRun(t, b, first)
	mustStoreRun(t, b, other)
	second := state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType2, ParentWorkflowID: "wf-parent"}
	mustStoreRun(t, b, second)
	wantRuns(t, b, second, other)
	wantRunsOfType(t, b, wfType1, other)
	wantRunsOfType(t, b, wfType2, second)
	wantTypes(t, b, wfType1, wfType2)
	// Storing it again without a parent clears the parent.
	third := state.WorkflowIdentity{WorkflowID: "wf-1", WorkflowType: wfType2}
	mustStoreRun(t, b, third)
	wantRuns(t, b, third, other)
	// Once no run has a type, the type is gone.
	mustStoreRun(t, b, state.WorkflowIdentity{WorkflowID: "wf-2", WorkflowType: wfType2})
	wantTypes(t, b, wfType2)
	wantRunsOfType(t, b, wfType1)
}

func testSubworkflowParent(t *testing.T, h Harness) {
	b := open(t, h)
	parent := state.WorkflowIdentity{WorkflowID: "wf-parent", WorkflowType: wfType1}
	sub := state.WorkflowIdentity{WorkflowID: "wf-sub", WorkflowType: wfType2, ParentWorkflowID: "wf-parent"}
	subsub := state.WorkflowIdentity{WorkflowID: "wf-subsub", WorkflowType: wfType2, ParentWorkflowID: "wf-sub"}
	for _, wf := range []state.WorkflowIdentity{subsub, sub, parent} {
		mustStoreRun(t, b, wf)
	}
	wantRuns(t, b, parent, sub, subsub)
	wantRunsOfType(t, b, wfType2, sub, subsub)
	got, err := b.WorkflowRunsOfType(ctx(t), wfType2)
	noErr(t, "WorkflowRunsOfType", err)
	if !got[0].IsSubworkflow() || got[0].ParentWorkflowID != "wf-parent" {
		t.Fatalf("sub-workflow read back with ParentWorkflowID %q, want %q", got[0].ParentWorkflowID, "wf-parent")
	}
}

func testWorkflowDataRoundTrip(t *testing.T, h Harness) {
	b := open(t, h)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := map[string][]byte{
		"binary":   all,
		"nul":      {0, 0, 'x', 0},
		"invalid":  {0xff, 0xfe, 0xc3, 0x28},
		"text":     []byte(`{"count": 1, "when": "2026-01-01T12:00:00+00:00"} 🚀`),
		"empty":    {},
		"spaces":   []byte("  "),
		"trailing": []byte("x \n"),
		"random":   randomBytes(64<<10, 7),
	}
	for key, v := range values {
		noErr(t, "SetWorkflowData("+key+")", b.SetWorkflowData(ctx(t), "wf-1", key, v))
	}
	for key, v := range values {
		wantData(t, b, "wf-1", key, v)
	}
	// nil is the empty value.
	noErr(t, "SetWorkflowData(nil)", b.SetWorkflowData(ctx(t), "wf-1", "nil", nil))
	wantData(t, b, "wf-1", "nil", []byte{})
	// The caller's slice is not retained.
	buf := []byte("original")
	noErr(t, "SetWorkflowData(buf)", b.SetWorkflowData(ctx(t), "wf-1", "buf", buf))
	copy(buf, "CHANGED!")
	wantData(t, b, "wf-1", "buf", []byte("original"))
}

func testWorkflowDataOverwrite(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "k", []byte("a longer first value")))
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "k", []byte("short")))
	wantData(t, b, "wf-1", "k", []byte("short"))
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "k", []byte{}))
	wantData(t, b, "wf-1", "k", []byte{})
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "k", []byte{1, 2, 3}))
	wantData(t, b, "wf-1", "k", []byte{1, 2, 3})
}

func testWorkflowDataMissing(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	_, err := b.WorkflowData(c, "wf-1", "k")
	wantNotFound(t, "WorkflowData on an empty backend", err)
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "k", []byte("v")))
	_, err = b.WorkflowData(c, "wf-1", "other")
	wantNotFound(t, "WorkflowData(missing key)", err)
	_, err = b.WorkflowData(c, "wf-2", "k")
	wantNotFound(t, "WorkflowData(missing workflow)", err)
	// An empty stored value is present, not missing.
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "empty", nil))
	wantData(t, b, "wf-1", "empty", []byte{})
}

func testWorkflowDataIsolated(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	writes := []struct {
		wf    state.InvocationID
		key   string
		value string
	}{
		{"wf-1", "k", "wf-1/k"},
		{"wf-2", "k", "wf-2/k"},
		{"wf-1", "K", "wf-1/K"},
		{"wf-10", "k", "wf-10/k"},
		{"WF-1", "k", "WF-1/k"},
		// A backend that joins workflow id and key into one string confuses
		// these two.
		{"a/b", "c", "a/b + c"},
		{"a", "b/c", "a + b/c"},
		{"a:b", "c", "a:b + c"},
		{"a", "b:c", "a + b:c"},
		{"k ", "k", "trailing space in id"},
		{"wf-1", "k ", "trailing space in key"},
	}
	for _, w := range writes {
		noErr(t, "SetWorkflowData", b.SetWorkflowData(c, w.wf, w.key, []byte(w.value)))
	}
	for _, w := range writes {
		wantData(t, b, w.wf, w.key, []byte(w.value))
	}
	_, err := b.WorkflowData(c, "wf-2", "K")
	wantNotFound(t, `WorkflowData("wf-2", "K")`, err)
	_, err = b.WorkflowData(c, "wf-1", "k%")
	wantNotFound(t, `WorkflowData("wf-1", "k%")`, err)
}

func testSubInvocationsSet(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	add := func(wf, sub state.InvocationID) {
		t.Helper()
		noErr(t, "StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(c, wf, sub))
	}
	wantSubs(t, b, "wf-1")
	add("wf-1", "sub-2")
	add("wf-1", "sub-1")
	add("wf-1", "sub-2")
	add("wf-1", "sub-3")
	add("wf-1", "sub-1")
	add("wf-2", "sub-1")
	add("wf-2", "SUB-1")
	wantSubs(t, b, "wf-1", "sub-1", "sub-2", "sub-3")
	wantSubs(t, b, "wf-2", "SUB-1", "sub-1")
	wantSubs(t, b, "wf-3")
	wantSubs(t, b, "WF-1")
	// The same workflow id is also a sub-invocation id elsewhere.
	add("wf-3", "wf-1")
	wantSubs(t, b, "wf-3", "wf-1")
	wantSubs(t, b, "wf-1", "sub-1", "sub-2", "sub-3")
}
