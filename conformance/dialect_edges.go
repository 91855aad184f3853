package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// dialectEdgeTests returns the tests of group "dialect": the cases SQL
// databases get wrong through their defaults (case-insensitive or padding
// collations, 3-byte "utf8", small blob and datetime types), checked in
// every table, not only the invocations table the other groups use most.
func dialectEdgeTests() []Test {
	return []Test{
		{Group: "dialect", Name: "case_differing_ids_in_every_table", Run: testCaseDifferingIDs},
		{Group: "dialect", Name: "supplementary_characters_are_distinct", Run: testSupplementaryDistinct},
		{Group: "dialect", Name: "four_byte_utf8_in_every_field", Run: testFourByteEverywhere},
		{Group: "dialect", Name: "millisecond_boundaries", Run: testMillisecondBoundaries},
		{Group: "dialect", Name: "exception_and_workflow_data_64mib", Run: testLargeExceptionAndData},
	}
}

// testCaseDifferingIDs stores, in every kind of record, two ids that differ
// only in case; a case-insensitive collation merges them.
func testCaseDifferingIDs(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)

	// Results and exceptions.
	for _, k := range []payloadKind{resultKind, exceptionKind} {
		k.mustSet(t, b, "inv-a", []byte("lower"))
		k.mustSet(t, b, "INV-A", []byte("upper"))
		k.want(t, b, "inv-a", []byte("lower"))
		k.want(t, b, "INV-A", []byte("upper"))
	}

	// History, and the ids found in a time range.
	lower := addEach(t, b, "inv-a", at(state.StatusRunning, baseTime, "lower"))
	upper := addEach(t, b, "INV-A", at(state.StatusRunning, baseTime, "upper"))
	wantHistory(t, `History("inv-a")`, mustHistory(t, b, "inv-a"), lower)
	wantHistory(t, `History("INV-A")`, mustHistory(t, b, "INV-A"), upper)
	wantIDs(t, "InvocationIDsInTimeRange", idsIn(t, b, baseTime, baseTime, 1), idList{"INV-A", "inv-a"})

	// Runner contexts, read by id and matched by substring.
	lowerRunner := runner("runner-x", "pkg.Runner", 1, "host", 1)
	upperRunner := runner("RUNNER-X", "pkg.Runner", 2, "HOST", 2)
	mustStoreRunner(t, b, lowerRunner)
	mustStoreRunner(t, b, upperRunner)
	wantRunner(t, `RunnerContext("runner-x")`, mustRunner(t, b, "runner-x"), lowerRunner)
	wantRunner(t, `RunnerContext("RUNNER-X")`, mustRunner(t, b, "RUNNER-X"), upperRunner)
	wantMatch(t, b, "runner-", "runner-x")
	wantMatch(t, b, "RUNNER-", "RUNNER-X")
	wantMatch(t, b, "-x", "runner-x")

	// Workflow runs and types.
	typeLower := state.TaskID{Module: "pkg.flows", FuncName: "flow"}
	typeUpper := state.TaskID{Module: "pkg.flows", FuncName: "FLOW"}
	runLower := state.WorkflowIdentity{WorkflowID: "wf-a", WorkflowType: typeLower}
	runUpper := state.WorkflowIdentity{WorkflowID: "WF-A", WorkflowType: typeUpper}
	mustStoreRun(t, b, runLower)
	mustStoreRun(t, b, runUpper)
	wantRuns(t, b, runUpper, runLower)
	wantTypes(t, b, typeUpper, typeLower)
	wantRunsOfType(t, b, typeLower, runLower)
	wantRunsOfType(t, b, typeUpper, runUpper)

	// Workflow data: keys and workflow ids differing in case.
	data := map[[2]string][]byte{
		{"wf-a", "key"}: []byte("wf-a/key"),
		{"wf-a", "KEY"}: []byte("wf-a/KEY"),
		{"WF-A", "key"}: []byte("WF-A/key"),
	}
	for k, v := range data {
		noErr(t, fmt.Sprintf("SetWorkflowData(%q, %q)", k[0], k[1]),
			b.SetWorkflowData(c, state.InvocationID(k[0]), k[1], v))
	}
	for k, v := range data {
		wantData(t, b, state.InvocationID(k[0]), k[1], v)
	}
	_, err := b.WorkflowData(c, "WF-A", "KEY")
	wantNotFound(t, `WorkflowData("WF-A", "KEY")`, err)

	// Sub-invocations: a set in which case matters.
	for _, sub := range []state.InvocationID{"sub-a", "SUB-A", "sub-a"} {
		noErr(t, fmt.Sprintf("StoreWorkflowSubInvocation(%q)", sub), b.StoreWorkflowSubInvocation(c, "wf-a", sub))
	}
	wantSubs(t, b, "wf-a", "SUB-A", "sub-a")
	wantSubs(t, b, "WF-A")
}

// supplementary are ids that differ only in one character outside the
// Basic Multilingual Plane, or in one such character against U+FFFD: MySQL's
// utf8mb4_general_ci and utf8mb4_unicode_ci weigh every supplementary
// character as U+FFFD, so all of them collide there. In byte order (UTF-8)
// U+FFFD sorts before them; in UTF-16 order it would sort after.
var supplementary = idList{"id-😀", "id-🚀", "id-𝄞", "id-𠜎", "id-\uFFFD", "id-\uE000"}

func testSupplementaryDistinct(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	sorted := slices.Sorted(slices.Values(supplementary))
	var invs []state.Invocation
	for i, id := range supplementary {
		invs = append(invs, topLevel(id, "f", map[string]string{"i": fmt.Sprint(i)}))
	}
	wantRoundTrip(t, b, invs...)
	wantIDs(t, "all ids", allIDs(t, b), sorted)

	for i, id := range supplementary {
		resultKind.mustSet(t, b, id, []byte(fmt.Sprint(i)))
		mustAddHistory(t, b, at(state.StatusRunning, baseTime, fmt.Sprint(i)), id)
		noErr(t, "StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(c, "wf-1", id))
		noErr(t, "SetWorkflowData", b.SetWorkflowData(c, "wf-1", "key-"+string(id), []byte(fmt.Sprint(i))))
		mustStoreRunner(t, b, runner("runner-"+string(id), "pkg.Runner", i, "host", int64(i)))
	}
	for i, id := range supplementary {
		resultKind.want(t, b, id, []byte(fmt.Sprint(i)))
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id),
			[]state.InvocationHistory{stored(id, at(state.StatusRunning, baseTime, fmt.Sprint(i)))})
		wantData(t, b, "wf-1", "key-"+string(id), []byte(fmt.Sprint(i)))
		rc := mustRunner(t, b, "runner-"+string(id))
		if rc.PID != i {
			t.Fatalf("RunnerContext(%q): got pid %d, want %d", "runner-"+string(id), rc.PID, i)
		}
	}
	wantSubs(t, b, "wf-1", sorted...)
	wantIDs(t, "InvocationIDsInTimeRange", idsIn(t, b, baseTime, baseTime, 2), sorted)
	wantMatch(t, b, "😀", "runner-id-😀")
	wantMatch(t, b, "\uFFFD", "runner-id-\uFFFD")
}

// testFourByteEverywhere puts characters outside the Basic Multilingual
// Plane (4 bytes in UTF-8; MySQL's "utf8" cannot store them) in every text
// field and id of every record.
func testFourByteEverywhere(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)

	wfType := state.TaskID{Module: "pkg_😀.flows", FuncName: "flow_𝄞"}
	top := state.Invocation{
		ID:        "wf-🚀",
		CallID:    state.CallID{Task: wfType, ArgsID: "args-🎉"},
		Arguments: map[string]string{"🔑": "🗝️ 𠜎", "plain": "😀😀😀"},
		Workflow:  state.WorkflowIdentity{WorkflowID: "wf-🚀", WorkflowType: wfType, ParentWorkflowID: "parent-𝄞"},
	}
	step := child("inv-𠜎-😀", "step_🎉", top)
	step.Arguments = map[string]string{"x": "𝄞"}
	wantRoundTrip(t, b, top, step)
	wantIDs(t, "children", children(t, b, top.ID), idList{step.ID})
	wantIDs(t, "ids of the workflow type", byWorkflow(t, b, state.WorkflowFilter{WorkflowType: wfType}), idList{step.ID, top.ID})

	rec := state.InvocationHistory{
		Timestamp:         baseTime,
		StatusRecord:      state.StatusRecord{Status: state.StatusRunning, RunnerID: "runner-😀", Timestamp: baseTime},
		RunnerContextID:   "ctx-𝄞",
		RegisteredByInvID: "reg-🚀",
	}
	want := addEach(t, b, step.ID, rec)
	wantHistory(t, "History", mustHistory(t, b, step.ID), want)
	wantHistory(t, "HistoryInTimeRange", historyIn(t, b, baseTime, baseTime, 10), want)

	rc := chain(
		runner("runner-😀-child", "pkg_😀.Runner𝄞", 2, "host-🚀", 22),
		runner("runner-😀-root", "pkg_😀.Runner𝄞", 1, "host-🚀", 11),
	)
	mustStoreRunner(t, b, rc)
	wantRunner(t, "RunnerContext", mustRunner(t, b, rc.RunnerID), rc)
	wantMatch(t, b, "😀-c", "runner-😀-child")

	run := top.Workflow
	mustStoreRun(t, b, run)
	wantTypes(t, b, wfType)
	wantRunsOfType(t, b, wfType, run)
	noErr(t, "SetWorkflowData", b.SetWorkflowData(c, run.WorkflowID, "key-🗝️", []byte("value-😀")))
	wantData(t, b, run.WorkflowID, "key-🗝️", []byte("value-😀"))
	noErr(t, "StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(c, run.WorkflowID, step.ID))
	wantSubs(t, b, run.WorkflowID, step.ID)

	resultKind.mustSet(t, b, step.ID, []byte("😀"))
	resultKind.want(t, b, step.ID, []byte("😀"))
}

// testMillisecondBoundaries stores timestamps one microsecond apart around
// a millisecond boundary and the Unix epoch: columns with millisecond
// precision (MySQL's default datetime(3)) or a rounding conversion merge or
// reorder them, and a negative epoch offset trips integer conversions.
func testMillisecondBoundaries(t *testing.T, h Harness) {
	b := open(t, h)
	ms := time.Date(2026, 1, 1, 12, 0, 0, int(time.Millisecond), time.UTC)
	epoch := time.Unix(0, 0).UTC()
	stamps := []time.Time{
		epoch.Add(-time.Microsecond), epoch, epoch.Add(time.Microsecond),
		ms.Add(-time.Microsecond), ms, ms.Add(time.Microsecond),
		ms.Add(999 * time.Microsecond), ms.Add(time.Millisecond),
	}
	statuses := []state.Status{state.StatusRegistered, state.StatusPending, state.StatusRunning}
	var want []state.InvocationHistory
	for i, ts := range stamps {
		// A status record time half a microsecond later must be truncated,
		// not rounded, to the microsecond.
		r := at(statuses[i%len(statuses)], ts, fmt.Sprint(i))
		r.StatusRecord.Timestamp = ts.Add(999 * time.Nanosecond)
		want = append(want, addEach(t, b, "inv-1", r)...)
	}
	wantHistory(t, "History", mustHistory(t, b, "inv-1"), want)
	for i, ts := range stamps {
		wantHistory(t, fmt.Sprintf("HistoryInTimeRange(%s, %s)", ts.Format(time.RFC3339Nano), ts.Format(time.RFC3339Nano)),
			historyIn(t, b, ts, ts, 1), want[i:i+1])
	}
	wantHistory(t, "HistoryInTimeRange(epoch-1µs, epoch+1µs)",
		historyIn(t, b, epoch.Add(-time.Microsecond), epoch.Add(time.Microsecond), 2), want[:3])
	wantHistory(t, "HistoryInTimeRange(across a millisecond)",
		historyIn(t, b, ms.Add(-time.Microsecond), ms.Add(time.Microsecond), 1), want[3:6])
}

// testLargeExceptionAndData stores 64 MiB in the payload columns besides
// results (which the payloads group covers): a column type chosen for
// "usually small" values (MySQL blob: 64 KiB, mediumblob: 16 MiB) fails or
// truncates.
func testLargeExceptionAndData(t *testing.T, h Harness) {
	if h.Features.NoLargePayloads {
		t.Skip("backend lacks large payloads (Features.NoLargePayloads)")
	}
	b := open(t, h)
	data := randomBytes(64<<20, 65)
	exceptionKind.mustSet(t, b, "inv-large", data)
	exceptionKind.want(t, b, "inv-large", data)
	exceptionKind.mustSet(t, b, "inv-large", nil)
	exceptionKind.want(t, b, "inv-large", []byte{})

	data[0] ^= 0xff // a different value, without a second 64 MiB buffer
	noErr(t, "SetWorkflowData(64 MiB)", b.SetWorkflowData(ctx(t), "wf-large", "data", data))
	wantData(t, b, "wf-large", "data", data)
}
