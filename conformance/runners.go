package conformance

import (
	"math"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// runnerTests returns the tests of group "runners": runner contexts, their
// parent chains and substring matching.
func runnerTests() []Test {
	tests := []Test{
		{Name: "unknown_is_not_found", Run: testRunnerUnknown},
		{Name: "round_trip_with_parent_chain", Run: testRunnerRoundTrip},
		{Name: "ancestors_stored_with_child", Run: testRunnerAncestorsStored},
		{Name: "deepest_chain_round_trips", Run: testRunnerDeepestChain},
		{Name: "batch_get_in_input_order", Run: testRunnerBatchGet},
		{Name: "match_substring", Run: testRunnerMatch},
		{Name: "match_is_literal", Run: testRunnerMatchLiteral},
		{Name: "match_is_case_sensitive", Run: testRunnerMatchCase},
		{Name: "match_returns_parent_chains", Run: testRunnerMatchChains},
		{Name: "stored_again_replaces", Run: testRunnerReplace},
		{Name: "parent_stored_later_resolves", Run: testRunnerParentLater},
	}
	for i := range tests {
		tests[i].Group = "runners"
	}
	return tests
}

// threeLevels returns a thread runner inside a process runner inside a
// host runner.
func threeLevels() state.RunnerContext {
	return chain(
		runner("thread-runner-1", "pynenc.runner.ThreadRunner", 4194304, "worker-host.example", 140234567890123),
		runner("process-runner-1", "pynenc.runner.ProcessRunner", 31337, "worker-host.example", math.MaxInt64),
		runner("host-runner-1", "pynenc.runner.MultiThreadRunner", 1, "", 0),
	)
}

func testRunnerUnknown(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.RunnerContext(ctx(t), "runner-unknown")
	wantNotFound(t, "RunnerContext on an empty backend", err)
	mustStoreRunner(t, b, runner("runner-1", "Cls", 1, "h", 1))
	_, err = b.RunnerContext(ctx(t), "runner-unknown")
	wantNotFound(t, "RunnerContext(unknown)", err)
	_, err = b.RunnerContext(ctx(t), "runner-")
	wantNotFound(t, "RunnerContext(prefix of a stored id)", err)
	_, err = b.RunnerContext(ctx(t), "RUNNER-1")
	wantNotFound(t, "RunnerContext(stored id in upper case)", err)
}

func testRunnerRoundTrip(t *testing.T, h Harness) {
	b := open(t, h)
	rc := threeLevels()
	mustStoreRunner(t, b, rc)
	got := mustRunner(t, b, rc.RunnerID)
	wantRunner(t, "RunnerContext(leaf)", got, rc)
	// The same, spelled out field by field.
	levels := []struct {
		got, want *state.RunnerContext
	}{{&got, &rc}, {got.Parent, rc.Parent}, {got.Parent.Parent, rc.Parent.Parent}}
	for depth, l := range levels {
		if l.got == nil {
			t.Fatalf("level %d of the chain is missing", depth)
		}
		g, w := l.got, l.want
		if g.RunnerCls != w.RunnerCls || g.RunnerID != w.RunnerID || g.PID != w.PID ||
			g.Hostname != w.Hostname || g.ThreadID != w.ThreadID {
			t.Fatalf("level %d: got %s, want %s", depth, describeRunner(g), describeRunner(w))
		}
	}
	if got.Parent.Parent.Parent != nil {
		t.Fatalf("root has a parent: %s", describeRunner(got.Parent.Parent.Parent))
	}
	if got.ThreadID != 140234567890123 || got.Parent.ThreadID != math.MaxInt64 {
		t.Fatalf("ThreadIDs = %d, %d; want 140234567890123, %d", got.ThreadID, got.Parent.ThreadID, int64(math.MaxInt64))
	}
	// A root runner round-trips with a nil parent.
	root := runner("root-only", "Cls", 2, "h", -1)
	mustStoreRunner(t, b, root)
	wantRunner(t, "RunnerContext(root)", mustRunner(t, b, "root-only"), root)
}

func testRunnerAncestorsStored(t *testing.T, h Harness) {
	b := open(t, h)
	rc := threeLevels()
	mustStoreRunner(t, b, rc)
	wantRunner(t, "RunnerContext(middle)", mustRunner(t, b, rc.Parent.RunnerID), *rc.Parent)
	wantRunner(t, "RunnerContext(root)", mustRunner(t, b, rc.Parent.Parent.RunnerID), *rc.Parent.Parent)
	// A sibling under the same parent shares the stored ancestors.
	sibling := runner("thread-runner-2", "pynenc.runner.ThreadRunner", 4194304, "worker-host.example", 5)
	sibling.Parent = rc.Parent
	mustStoreRunner(t, b, sibling)
	wantRunner(t, "RunnerContext(sibling)", mustRunner(t, b, "thread-runner-2"), sibling)
	wantRunner(t, "RunnerContext(leaf)", mustRunner(t, b, rc.RunnerID), rc)
}

func testRunnerDeepestChain(t *testing.T, h Harness) {
	b := open(t, h)
	levels := make([]state.RunnerContext, state.MaxRunnerDepth)
	for i := range levels {
		levels[i] = runner("level-"+string(rune('A'+i)), "Cls", i, "host", int64(i))
	}
	rc := chain(levels...)
	mustStoreRunner(t, b, rc)
	wantRunner(t, "RunnerContext(deepest)", mustRunner(t, b, rc.RunnerID), rc)
}

func testRunnerBatchGet(t *testing.T, h Harness) {
	b := open(t, h)
	c := ctx(t)
	rc := threeLevels()
	other := runner("other", "Cls", 9, "h", 9)
	mustStoreRunner(t, b, rc)
	mustStoreRunner(t, b, other)
	got, err := b.RunnerContexts(c, []string{"other", "unknown", rc.RunnerID, "other", "host-runner-1", rc.RunnerID})
	noErr(t, "RunnerContexts", err)
	wantRunners(t, "RunnerContexts", got, []state.RunnerContext{other, rc, *rc.Parent.Parent})
	for _, in := range [][]string{nil, {}, {"unknown"}} {
		got, err := b.RunnerContexts(c, in)
		noErr(t, "RunnerContexts", err)
		wantRunners(t, "RunnerContexts(nothing stored among ids)", got, nil)
	}
}

func testRunnerMatch(t *testing.T, h Harness) {
	b := open(t, h)
	// Stored out of order, so insertion order differs from the promised one.
	for _, id := range []string{"runner-alpha-003", "runner-beta-002", "runner-alpha-001"} {
		mustStoreRunner(t, b, runner(id, "Cls", 1, "h", 1))
	}
	wantMatch(t, b, "alpha", "runner-alpha-001", "runner-alpha-003")
	wantMatch(t, b, "beta", "runner-beta-002")
	wantMatch(t, b, "gamma")
	wantMatch(t, b, "runner-", "runner-alpha-001", "runner-alpha-003", "runner-beta-002")
	wantMatch(t, b, "runner-alpha-001", "runner-alpha-001")
	wantMatch(t, b, "runner-alpha-0011")
	wantMatch(t, b, "003", "runner-alpha-003")
	wantMatch(t, b, "", "runner-alpha-001", "runner-alpha-003", "runner-beta-002")
}

func testRunnerMatchLiteral(t *testing.T, h Harness) {
	b := open(t, h)
	for _, id := range []string{"a%b", "a_b", "axb", `a\b`, "A_B", "a!b", "a[b]", "a*b", "a'b"} {
		mustStoreRunner(t, b, runner(id, "Cls", 1, "h", 1))
	}
	wantMatch(t, b, "_", "A_B", "a_b")
	wantMatch(t, b, "a_", "a_b")
	wantMatch(t, b, "a_b", "a_b")
	wantMatch(t, b, "%", "a%b")
	wantMatch(t, b, "a%b", "a%b")
	wantMatch(t, b, "%%")
	wantMatch(t, b, `\`, `a\b`)
	wantMatch(t, b, `a\b`, `a\b`)
	wantMatch(t, b, `\_`)
	wantMatch(t, b, `\%`)
	wantMatch(t, b, "!", "a!b")
	wantMatch(t, b, "!_")
	wantMatch(t, b, "!%")
	wantMatch(t, b, "[b]", "a[b]")
	wantMatch(t, b, "[", "a[b]")
	wantMatch(t, b, "*", "a*b")
	wantMatch(t, b, "'", "a'b")
	wantMatch(t, b, "x", "axb")
	wantMatch(t, b, "a", "a!b", "a%b", "a'b", "a*b", "a[b]", `a\b`, "a_b", "axb")
}

func testRunnerMatchCase(t *testing.T, h Harness) {
	b := open(t, h)
	for _, id := range []string{"runner-alpha-001", "Runner-ALPHA-002", "runner-é", "runner-É"} {
		mustStoreRunner(t, b, runner(id, "Cls", 1, "h", 1))
	}
	wantMatch(t, b, "ALPHA", "Runner-ALPHA-002")
	wantMatch(t, b, "alpha", "runner-alpha-001")
	wantMatch(t, b, "Alpha")
	wantMatch(t, b, "RUNNER")
	wantMatch(t, b, "runner-", "runner-alpha-001", "runner-É", "runner-é") // byte order
	wantMatch(t, b, "é", "runner-é")
	wantMatch(t, b, "É", "runner-É")
}

func testRunnerMatchChains(t *testing.T, h Harness) {
	b := open(t, h)
	rc := threeLevels()
	mustStoreRunner(t, b, rc)
	got := wantMatch(t, b, "thread", "thread-runner-1")
	wantRunner(t, "MatchRunnerContexts(thread)[0]", got[0], rc)
	got = wantMatch(t, b, "process", "process-runner-1")
	wantRunner(t, "MatchRunnerContexts(process)[0]", got[0], *rc.Parent)
	got = wantMatch(t, b, "-runner-1", "host-runner-1", "process-runner-1", "thread-runner-1")
	wantRunners(t, "MatchRunnerContexts(-runner-1)", got,
		[]state.RunnerContext{*rc.Parent.Parent, *rc.Parent, rc})
}

func testRunnerReplace(t *testing.T, h Harness) {
	b := open(t, h)
	first := chain(runner("runner-1", "OldCls", 100, "old-host", 1), runner("parent-1", "P", 1, "p", 1))
	mustStoreRunner(t, b, first)
	second := chain(runner("runner-1", "NewCls", 200, "new-host", 2), runner("parent-2", "P", 2, "p", 2))
	mustStoreRunner(t, b, second)
	wantRunner(t, "RunnerContext after storing again with another parent", mustRunner(t, b, "runner-1"), second)
	// The old parent is still stored on its own.
	wantRunner(t, "RunnerContext(old parent)", mustRunner(t, b, "parent-1"), *first.Parent)
	// Stored again as a root, it has no parent any more.
	third := runner("runner-1", "NewCls", 300, "", 3)
	mustStoreRunner(t, b, third)
	wantRunner(t, "RunnerContext after storing again as a root", mustRunner(t, b, "runner-1"), third)
	wantMatch(t, b, "runner-1", "runner-1")
}

func testRunnerParentLater(t *testing.T, h Harness) {
	b := open(t, h)
	kid := chain(runner("kid", "K", 1, "h", 1), runner("parent", "P", 10, "old", 10))
	mustStoreRunner(t, b, kid)
	// The parent is stored again on its own, changed: the child's chain shows
	// the latest version of its parent.
	newParent := runner("parent", "P", 11, "new", 11)
	mustStoreRunner(t, b, newParent)
	want := chain(runner("kid", "K", 1, "h", 1), newParent)
	wantRunner(t, "RunnerContext(kid) after its parent was stored again", mustRunner(t, b, "kid"), want)
	// Later the parent gets a parent of its own: the child's chain grows.
	grown := chain(runner("parent", "P", 11, "new", 11), runner("grandparent", "G", 12, "g", 12))
	mustStoreRunner(t, b, grown)
	want = chain(runner("kid", "K", 1, "h", 1), grown, *grown.Parent)
	wantRunner(t, "RunnerContext(kid) after its parent got a parent", mustRunner(t, b, "kid"), want)
	rcs, err := b.RunnerContexts(ctx(t), []string{"kid"})
	noErr(t, "RunnerContexts", err)
	wantRunners(t, "RunnerContexts(kid)", rcs, []state.RunnerContext{want})
	wantRunners(t, "MatchRunnerContexts(kid)", wantMatch(t, b, "kid", "kid"), []state.RunnerContext{want})
}
