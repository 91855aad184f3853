package conformance

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// invocationTests returns the tests of group "invocations": upserts, reads
// and the queries by parent and by workflow.
func invocationTests() []Test {
	tests := []Test{
		{Name: "upsert_then_get", Run: testUpsertThenGet},
		{Name: "upsert_idempotent", Run: testUpsertIdempotent},
		{Name: "upsert_last_write_wins", Run: testUpsertLastWriteWins},
		{Name: "same_id_twice_in_batch", Run: testSameIDTwiceInBatch},
		{Name: "empty_batch", Run: testEmptyBatch},
		{Name: "no_arguments", Run: testNoArguments},
		{Name: "arguments_preserved", Run: testArgumentsPreserved},
		{Name: "large_argument_value", Run: testLargeArgumentValue},
		{Name: "arguments_nul_refused", Run: testArgumentsNULRefused},
		{Name: "arguments_not_aliased", Run: testArgumentsNotAliased},
		{Name: "unknown_not_found", Run: testInvocationNotFound},
		{Name: "batch_get", Run: testBatchGet},
		{Name: "children_in_id_order", Run: testChildrenInIDOrder},
		{Name: "ids_by_workflow", Run: testIDsByWorkflow},
		{Name: "all_ids_in_byte_order", Run: testAllIDsInByteOrder},
		{Name: "subworkflow_identity", Run: testSubworkflowIdentity},
		{Name: "large_batch", Run: testLargeBatch},
		{Name: "ids_case_sensitive", Run: testIDsCaseSensitive},
		{Name: "ids_byte_exact", Run: testIDsByteExact},
		{Name: "max_length_ids", Run: testMaxLengthIDs},
		{Name: "unicode_ids", Run: testUnicodeIDs},
		{Name: "dotted_module", Run: testDottedModule},
	}
	for i := range tests {
		tests[i].Group = "invocations"
	}
	return tests
}

func testUpsertThenGet(t *testing.T, h Harness) {
	b := open(t, h)
	top := topLevel("inv-top", "main", map[string]string{"x": "1"})
	wantRoundTrip(t, b, fullInvocation("inv-1"), top, child("inv-child", "step", top))
}

func testUpsertIdempotent(t *testing.T, h Harness) {
	b := open(t, h)
	inv := topLevel("inv-1", "dummy_task", map[string]string{"a": "10", "b": "20"})
	for range 5 {
		mustUpsert(t, b, inv)
	}
	wantInvocation(t, "after 5 upserts", mustInvocation(t, b, inv.ID), inv)
	wantIDs(t, "all ids after 5 upserts of one invocation", allIDs(t, b), []state.InvocationID{inv.ID})
}

func testUpsertLastWriteWins(t *testing.T, h Harness) {
	b := open(t, h)
	v1 := fullInvocation("inv-1")
	v2 := v1
	v2.CallID = state.CallID{Task: task("other"), ArgsID: "args-2"}
	v2.Arguments = map[string]string{"a": "11", "c": "new"} // "b" must disappear
	v2.Workflow = state.WorkflowIdentity{WorkflowID: "wf-new", WorkflowType: task("new_flow")}
	v2.ParentInvocationID = "parent-new"
	mustUpsert(t, b, v1)
	mustUpsert(t, b, v2)
	wantInvocation(t, "after overwrite", mustInvocation(t, b, "inv-1"), v2)
	wantIDs(t, "ids of the old workflow", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: v1.Workflow.WorkflowID}), nil)
	wantIDs(t, "ids of the old workflow type", byWorkflow(t, b, state.WorkflowFilter{WorkflowType: v1.Workflow.WorkflowType}), nil)
	wantIDs(t, "ids of the new workflow", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: "wf-new"}), []state.InvocationID{"inv-1"})
	wantIDs(t, "children of the old parent", children(t, b, v1.ParentInvocationID), nil)
	wantIDs(t, "children of the new parent", children(t, b, "parent-new"), []state.InvocationID{"inv-1"})

	v3 := v2
	v3.ParentInvocationID = ""
	mustUpsert(t, b, v3)
	wantInvocation(t, "after clearing the parent", mustInvocation(t, b, "inv-1"), v3)
	wantIDs(t, "children of the cleared parent", children(t, b, "parent-new"), nil)
}

func testSameIDTwiceInBatch(t *testing.T, h Harness) {
	b := open(t, h)
	first := topLevel("inv-1", "f", map[string]string{"v": "first"})
	last := topLevel("inv-1", "g", map[string]string{"v": "last"})
	other := topLevel("inv-2", "f", nil)
	// "inv-3" checks that the last wins, not the greatest or the first.
	third1 := topLevel("inv-3", "g", map[string]string{"v": "z-first"})
	third2 := topLevel("inv-3", "f", map[string]string{"v": "a-last"})
	if err := b.UpsertInvocations(ctx(t), []state.Invocation{first, other, third1, last, third2}); err != nil {
		t.Fatalf("UpsertInvocations with a repeated id: %v (want no error)", err)
	}
	wantInvocation(t, "inv-1", mustInvocation(t, b, "inv-1"), last)
	wantInvocation(t, "inv-3", mustInvocation(t, b, "inv-3"), third2)
	wantInvocation(t, "inv-2", mustInvocation(t, b, "inv-2"), other)
	wantIDs(t, "all ids", allIDs(t, b), []state.InvocationID{"inv-1", "inv-2", "inv-3"})
}

func testEmptyBatch(t *testing.T, h Harness) {
	b := open(t, h)
	if err := b.UpsertInvocations(ctx(t), nil); err != nil {
		t.Fatalf("UpsertInvocations(nil): %v", err)
	}
	if err := b.UpsertInvocations(ctx(t), []state.Invocation{}); err != nil {
		t.Fatalf("UpsertInvocations(empty): %v", err)
	}
	wantIDs(t, "all ids after empty upserts", allIDs(t, b), nil)
}

func testNoArguments(t *testing.T, h Harness) {
	b := open(t, h)
	withNil := topLevel("inv-nil", "f", nil)
	withEmpty := topLevel("inv-empty", "f", map[string]string{})
	wantRoundTrip(t, b, withNil, withEmpty) // wantInvocation requires a non-nil empty map
}

// trickyArguments are argument values (and names) that break naive
// serialization: quotes, escapes, control characters, 4-byte UTF-8.
var trickyArguments = map[string]string{
	"a":                  "10",
	"b":                  "20",
	"quotes":             `"double" and 'single' and """triple"""`,
	"backslashes":        `C:\path\to\file \\ \" \u0041 \n (literal)`,
	"newlines":           "line1\nline2\r\nline3\rtab\there",
	"control":            "\x01\x02\x1b[0m\x1f\x7f",
	"emoji":              "😀🎉👩‍👩‍👧 and 𝄞 and 𠜎",
	"cjk_rtl":            "日本語 עברית العربية",
	"combining":          "e\u0301 vs \u00e9",
	"separators":         "\u2028\u2029\ufeff",
	"json":               `{"nested": [1, 2.5, {"x": null}], "s": "\"q\""}`,
	"null":               "null",
	"empty":              "",
	"spaces":             "  padded  ",
	"percent_underscore": `100% _of_ %s %%`,
	"ключ ✓ 🔑":           "unicode name",
	`name "quoted" \`:    "quoted name",
	"":                   "empty name",
}

func testArgumentsPreserved(t *testing.T, h Harness) {
	b := open(t, h)
	simple := topLevel("inv-ab", "f", map[string]string{"a": "10", "b": "20"})
	tricky := topLevel("inv-tricky", "f", maps.Clone(trickyArguments))
	wantRoundTrip(t, b, simple, tricky)
	got := mustInvocation(t, b, "inv-ab")
	if keys := slices.Sorted(maps.Keys(got.Arguments)); !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("argument names: got %q, want [a b]", keys)
	}
}

func testLargeArgumentValue(t *testing.T, h Harness) {
	b := open(t, h)
	big := strings.Repeat("0123456789abcdef\"\\é😀\n", (1<<20)/28)
	wantRoundTrip(t, b, topLevel("inv-big", "f", map[string]string{"blob": big, "small": "1"}))
}

func testArgumentsNULRefused(t *testing.T, h Harness) {
	b := open(t, h)
	ok := topLevel("inv-ok", "f", map[string]string{"a": "1"})
	for _, args := range []map[string]string{{"a": "x\x00y"}, {"a\x00": "1"}} {
		bad := topLevel("inv-nul", "f", args)
		err := b.UpsertInvocations(ctx(t), []state.Invocation{ok, bad})
		wantErr(t, fmt.Sprintf("UpsertInvocations with arguments %q", args), err, state.ErrInvalidArgument)
	}
	for _, id := range []state.InvocationID{"inv-ok", "inv-nul"} {
		_, err := b.Invocation(ctx(t), id)
		wantErr(t, fmt.Sprintf("Invocation(%q) after a refused batch", id), err, state.ErrNotFound)
	}
}

func testArgumentsNotAliased(t *testing.T, h Harness) {
	b := open(t, h)
	args := map[string]string{"a": "1"}
	inv := topLevel("inv-1", "f", args)
	want := topLevel("inv-1", "f", maps.Clone(args))
	mustUpsert(t, b, inv)
	args["a"], args["added"] = "changed", "x"
	got := mustInvocation(t, b, "inv-1")
	wantInvocation(t, "after changing the caller's map", got, want)
	got.Arguments["a"], got.Arguments["added"] = "changed", "x"
	wantInvocation(t, "after changing a returned map", mustInvocation(t, b, "inv-1"), want)
}

func testInvocationNotFound(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.Invocation(ctx(t), "inv-unknown")
	wantErr(t, "Invocation(inv-unknown) on an empty backend", err, state.ErrNotFound)
	mustUpsert(t, b, topLevel("inv-1", "f", nil))
	for _, id := range []state.InvocationID{"inv-unknown", "inv-10", "inv-", "INV-1", "inv-1 "} {
		_, err := b.Invocation(ctx(t), id)
		wantErr(t, fmt.Sprintf("Invocation(%q)", id), err, state.ErrNotFound)
	}
}

func testBatchGet(t *testing.T, h Harness) {
	b := open(t, h)
	a, c := fullInvocation("inv-a"), topLevel("inv-c", "f", nil)
	mustUpsert(t, b, a, topLevel("inv-b", "f", nil), c)
	m := mustInvocations(t, b, "inv-c", "inv-unknown", "inv-a", "inv-a", "inv-c")
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, []state.InvocationID{"inv-a", "inv-c"}) {
		t.Fatalf("Invocations keys: got %q, want [inv-a inv-c]", keys)
	}
	wantInvocation(t, "Invocations()[inv-a]", m["inv-a"], a)
	wantInvocation(t, "Invocations()[inv-c]", m["inv-c"], c)
	for _, ids := range [][]state.InvocationID{nil, {}, {"inv-unknown"}} {
		m, err := b.Invocations(ctx(t), ids)
		if err != nil || len(m) != 0 {
			t.Fatalf("Invocations(%q): got %v, %v; want an empty map and no error", ids, m, err)
		}
	}
}

func testChildrenInIDOrder(t *testing.T, h Harness) {
	b := open(t, h)
	p, q := topLevel("P", "main", nil), topLevel("Q", "main", nil)
	mustUpsert(t, b, p, q, child("q-1", "step", q))
	for _, id := range []state.InvocationID{"c-b", "c-B", "c-10", "c-9", "c-a"} {
		mustUpsert(t, b, child(id, "step", p))
	}
	ca := child("c-a", "step", p)
	mustUpsert(t, b, child("g-1", "step", ca))
	wantIDs(t, "ChildInvocations(P)", children(t, b, "P"), []state.InvocationID{"c-10", "c-9", "c-B", "c-a", "c-b"})
	wantIDs(t, "ChildInvocations(c-a)", children(t, b, "c-a"), []state.InvocationID{"g-1"})
	for _, none := range []state.InvocationID{"q-1", "g-1", "p", "unknown"} {
		wantIDs(t, fmt.Sprintf("ChildInvocations(%q)", none), children(t, b, none), nil)
	}
}

func testIDsByWorkflow(t *testing.T, h Harness) {
	b := open(t, h)
	wf1, wf2 := topLevel("wf-1", "flow_a", nil), topLevel("wf-2", "flowXa", nil)
	mustUpsert(t, b, wf1, child("wf-1-c2", "step", wf1), child("wf-1-c1", "step", wf1),
		wf2, child("wf-2-c1", "step", wf2),
		topLevel("wf-3", "flow_a", nil), topLevel("wf-10", "flow_a_v2", nil))
	cases := []struct {
		f    state.WorkflowFilter
		want idList
	}{
		{state.WorkflowFilter{WorkflowID: "wf-1"}, idList{"wf-1", "wf-1-c1", "wf-1-c2"}},
		{state.WorkflowFilter{WorkflowType: task("flow_a")}, idList{"wf-1", "wf-1-c1", "wf-1-c2", "wf-3"}},
		{state.WorkflowFilter{WorkflowType: task("flowXa")}, idList{"wf-2", "wf-2-c1"}},
		{state.WorkflowFilter{WorkflowType: task("flow_a_v2")}, idList{"wf-10"}},
		{state.WorkflowFilter{WorkflowID: "wf-1", WorkflowType: task("flow_a")}, idList{"wf-1", "wf-1-c1", "wf-1-c2"}},
		{state.WorkflowFilter{WorkflowID: "wf-3", WorkflowType: task("flow_a")}, idList{"wf-3"}},
		{state.WorkflowFilter{WorkflowID: "wf-1", WorkflowType: task("flowXa")}, nil},
		{state.WorkflowFilter{WorkflowID: "nonexistent-id"}, nil},
		{state.WorkflowFilter{WorkflowID: "WF-1"}, nil},
		{state.WorkflowFilter{WorkflowID: "wf-%"}, nil},
		{state.WorkflowFilter{WorkflowType: task("step")}, nil}, // the invocation's own task is not its workflow type
		{state.WorkflowFilter{WorkflowType: task("nothing")}, nil},
		{state.WorkflowFilter{}, idList{"wf-1", "wf-1-c1", "wf-1-c2", "wf-10", "wf-2", "wf-2-c1", "wf-3"}},
	}
	for _, c := range cases {
		wantIDs(t, fmt.Sprintf("InvocationIDsByWorkflow(%+v)", c.f), byWorkflow(t, b, c.f), c.want)
	}
}

func testAllIDsInByteOrder(t *testing.T, h Harness) {
	b := open(t, h)
	raw := []state.InvocationID{"b", "B", "a", "A", "_x", "10", "9", "é", "z", "😀", "\uff5e", "Z-1", "a b", "a-b", "ab"}
	var invs []state.Invocation
	for _, id := range raw {
		invs = append(invs, topLevel(id, "f", nil))
	}
	mustUpsert(t, b, invs...)
	// Go compares strings byte by byte: the order every backend must use
	// (not a locale's, not UTF-16's: "\uff5e" sorts before the emoji).
	wantIDs(t, "all ids", allIDs(t, b), slices.Sorted(slices.Values(raw)))
}

func testSubworkflowIdentity(t *testing.T, h Harness) {
	b := open(t, h)
	main := topLevel("wf-main", "main_flow", nil)
	sub := topLevel("sub-1", "sub_flow", map[string]string{"n": "1"})
	sub.Workflow.ParentWorkflowID = main.ID
	sub.ParentInvocationID = main.ID
	subChild := child("sub-1-c1", "step", sub)
	mainChild := child("wf-main-c1", "step", main)
	wantRoundTrip(t, b, main, sub, subChild, mainChild)
	if got := mustInvocation(t, b, subChild.ID).Workflow; got != sub.Workflow {
		t.Fatalf("child of a sub-workflow: Workflow %+v, want its parent's %+v", got, sub.Workflow)
	}
	wantIDs(t, "ids of sub-1", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: "sub-1"}), []state.InvocationID{"sub-1", "sub-1-c1"})
	wantIDs(t, "ids of wf-main", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: "wf-main"}), []state.InvocationID{"wf-main", "wf-main-c1"})
	wantIDs(t, "children of wf-main", children(t, b, "wf-main"), []state.InvocationID{"sub-1", "wf-main-c1"})
}

func testLargeBatch(t *testing.T, h Harness) {
	b := open(t, h)
	const n = 3000
	invs := make([]state.Invocation, n)
	ids := make([]state.InvocationID, n)
	var top state.Invocation
	for i := range n {
		id := state.InvocationID(fmt.Sprintf("bulk-%05d", i))
		inv := topLevel(id, "task_"+strconv.Itoa(i%7), map[string]string{"x": strconv.Itoa(i)})
		if i%10 == 0 {
			top = inv
		} else {
			inv = child(id, "task_"+strconv.Itoa(i%7), top)
			inv.Arguments = map[string]string{"x": strconv.Itoa(i)}
		}
		invs[n-1-i], ids[i] = inv, id // upserted in descending id order
	}
	last := invs[n-1] // bulk-00000, repeated at the end of the batch
	last.Arguments = map[string]string{"x": "last"}
	if err := b.UpsertInvocations(ctx(t), append(slices.Clone(invs), last)); err != nil {
		t.Fatalf("UpsertInvocations(%d invocations): %v", n+1, err)
	}
	invs[n-1] = last
	m := mustInvocations(t, b, ids...)
	if len(m) != n {
		t.Fatalf("Invocations(%d ids): got %d", n, len(m))
	}
	for _, inv := range invs {
		wantInvocation(t, fmt.Sprintf("Invocations()[%q]", inv.ID), m[inv.ID], inv)
	}
	wantIDs(t, "all ids", allIDs(t, b), ids)
	wantIDs(t, "children of bulk-00010", children(t, b, "bulk-00010"), ids[11:20])
}

func testIDsCaseSensitive(t *testing.T, h Harness) {
	b := open(t, h)
	upper := topLevel("inv-A", "upper", map[string]string{"case": "upper"})
	lower := topLevel("inv-a", "lower", map[string]string{"case": "lower"})
	wantRoundTrip(t, b, upper, lower)
	wantIDs(t, "all ids", allIDs(t, b), []state.InvocationID{"inv-A", "inv-a"})
	wantIDs(t, "ids of workflow inv-A", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: "inv-A"}), []state.InvocationID{"inv-A"})
	lower.Arguments = map[string]string{"case": "lower, overwritten"}
	mustUpsert(t, b, lower)
	wantInvocation(t, "inv-A after overwriting inv-a", mustInvocation(t, b, "inv-A"), upper)
	mustUpsert(t, b, child("c-1", "f", upper), child("c-2", "f", lower))
	wantIDs(t, "children of inv-A", children(t, b, "inv-A"), []state.InvocationID{"c-1"})
}

func testIDsByteExact(t *testing.T, h Harness) {
	b := open(t, h)
	// Each pair is equal under some collation (trailing-space padding,
	// Unicode normalization, width folding) but differs in bytes.
	ids := []state.InvocationID{"inv-1", "inv-1 ", "inv-\u00e9", "inv-e\u0301", "inv-Ａ", "inv-A"}
	var invs []state.Invocation
	for i, id := range ids {
		invs = append(invs, topLevel(id, "f", map[string]string{"i": strconv.Itoa(i)}))
	}
	wantRoundTrip(t, b, invs...)
	wantIDs(t, "all ids", allIDs(t, b), slices.Sorted(slices.Values(ids)))
}

func testMaxLengthIDs(t *testing.T, h Harness) {
	b := open(t, h)
	long := []state.InvocationID{
		state.InvocationID("inv-" + strings.Repeat("x", 251)),
		state.InvocationID(strings.Repeat("😀", 63) + "abc"),
		state.InvocationID(strings.Repeat("é", 127) + "a"),
	}
	for _, id := range long {
		if len(id) != state.MaxIDLen {
			t.Fatalf("test bug: id of %d bytes", len(id))
		}
	}
	inv := topLevel(long[0], "f", map[string]string{"a": "1"})
	inv.CallID.ArgsID = "args-long" // "args-" + id would be too long
	inv.ParentInvocationID = long[1]
	inv.Workflow = state.WorkflowIdentity{WorkflowID: long[1], WorkflowType: task("flow"), ParentWorkflowID: long[2]}
	wantRoundTrip(t, b, inv, topLevel(long[1], "f", nil), topLevel(long[2], "f", nil))
	wantIDs(t, "children of a 255-byte id", children(t, b, long[1]), long[:1])
	wantIDs(t, "ids of a 255-byte workflow id", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: long[1]}), long[:2])
}

func testUnicodeIDs(t *testing.T, h Harness) {
	b := open(t, h)
	top := topLevel("wf-😀-𝄞", "flow", map[string]string{"🔑": "🗝️"})
	c := child("inv-𠜎-日本", "step", top)
	mustUpsert(t, b, top)
	wantRoundTrip(t, b, c)
	wantIDs(t, "children of wf-😀-𝄞", children(t, b, top.ID), []state.InvocationID{c.ID})
	wantIDs(t, "ids of workflow wf-😀-𝄞", byWorkflow(t, b, state.WorkflowFilter{WorkflowID: top.ID}), []state.InvocationID{c.ID, top.ID})
	_, err := b.Invocation(ctx(t), "wf-😀-")
	wantErr(t, "Invocation of a prefix of an emoji id", err, state.ErrNotFound)
}

func testDottedModule(t *testing.T, h Harness) {
	b := open(t, h)
	tk := state.TaskID{Module: "pkg.sub.mod", FuncName: "run"}
	inv := state.Invocation{
		ID:       "inv-dots",
		CallID:   state.CallID{Task: tk, ArgsID: state.NoArgs},
		Workflow: state.WorkflowIdentity{WorkflowID: "inv-dots", WorkflowType: tk},
	}
	wantRoundTrip(t, b, inv)
	wantIDs(t, "ids of type pkg.sub.mod.run", byWorkflow(t, b, state.WorkflowFilter{WorkflowType: tk}), []state.InvocationID{"inv-dots"})
	other := state.TaskID{Module: "pkg.sub", FuncName: "mod"}
	wantIDs(t, "ids of type pkg.sub.mod", byWorkflow(t, b, state.WorkflowFilter{WorkflowType: other}), nil)
}
