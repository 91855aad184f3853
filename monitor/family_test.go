package monitor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

// TestFamilyTreeIsBounded shows an invocation with more children than a
// tree shows: ten per invocation and "and N more", linked to the paginated
// list of the children.
func TestFamilyTreeIsBounded(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	task := state.TaskID{Module: "m", FuncName: "f"}
	wfID := state.WorkflowIdentity{WorkflowID: "p", WorkflowType: task}
	now := time.Now().UTC().Add(-time.Hour)
	n := 0
	add := func(id, parent state.InvocationID) {
		t.Helper()
		if err := s.UpsertInvocations(ctx, []state.Invocation{{ID: id, CallID: state.CallID{Task: task, ArgsID: string(id)}, Workflow: wfID, ParentInvocationID: parent}}); err != nil {
			t.Fatal(err)
		}
		n++
		ts := now.Add(time.Duration(n) * time.Second)
		if err := s.AddHistory(ctx, []state.InvocationID{id}, state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: state.StatusSuccess, Timestamp: ts}}); err != nil {
			t.Fatal(err)
		}
	}
	add("p", "")
	for i := range 25 {
		c := state.InvocationID(fmt.Sprintf("c-%02d", i))
		add(c, "p")
		for j := range 2 {
			add(state.InvocationID(fmt.Sprintf("g-%02d-%d", i, j)), c)
		}
	}
	link := func(id string) string { return `<a class="id" href="../invocations/` + id + `">` }
	for _, c := range []struct {
		name          string
		b             state.Backend
		shown, hidden []string
		note          string
	}{
		// With a Browser: the children that changed last.
		{"browser", s, []string{link("c-24"), link("c-15"), link("g-24-1"), link("g-15-0")}, []string{link("c-14"), link("c-00")}, "that changed last"},
		// With the contract only: the first by id.
		{"contract", contractOnly{s}, []string{link("c-00"), link("c-09"), link("g-00-0"), link("g-09-1")}, []string{link("c-10"), link("c-24")}, "first by id"},
	} {
		r := mustGet(t, newMonitor(t, c.b, monitor.Options{}), "/invocations/p", append(c.shown,
			`<li class="more"><a href="../invocations?parent=p">and 15 more</a></li>`, c.note)...)
		for _, h := range c.hidden {
			if strings.Contains(r.body, h) {
				t.Errorf("%s: the tree shows %s", c.name, h)
			}
		}
		tree := r.body[strings.Index(r.body, `<ul class="tree">`):]
		tree = tree[:strings.Index(tree, "</section>")]
		if got := strings.Count(tree, "<li"); got != 1+10+20+1 { // p, its children, theirs, "and 15 more"
			t.Errorf("%s: %d tree items, want 32", c.name, got)
		}
	}
	// The children's list pages through all 25.
	checkOnce(t, "/invocations?parent=p", walk(t, newMonitor(t, s, monitor.Options{}), "/invocations?parent=p&limit=10", invCell), func() []string {
		var want []string
		for i := range 25 {
			want = append(want, fmt.Sprintf("c-%02d", i))
		}
		return want
	}())
}

// TestWorkflowRunIsBounded shows a run with more invocations than its
// page lists.
func TestWorkflowRunIsBounded(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	task := state.TaskID{Module: "m", FuncName: "big"}
	run := state.WorkflowIdentity{WorkflowID: "big-00", WorkflowType: task}
	ts := time.Now().UTC().Add(-time.Minute)
	for i := range 60 {
		id := state.InvocationID(fmt.Sprintf("big-%02d", i))
		if err := s.UpsertInvocations(ctx, []state.Invocation{{ID: id, CallID: state.CallID{Task: task, ArgsID: string(id)}, Workflow: run}}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddHistory(ctx, []state.InvocationID{id}, state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: ts}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StoreWorkflowRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    state.Backend
		want string
	}{
		{"browser", s, "The 50 that changed last of 60."},
		{"contract", contractOnly{s}, "The first 50 of 60 by id."},
	} {
		r := mustGet(t, newMonitor(t, c.b, monitor.Options{}), "/workflow-runs/big-00", c.want, "<dd>60 · ", `<a href="../workflows/m.big">m.big</a>`)
		if got := strings.Count(r.body, `<a href="../invocations/big-`); got < 50 || got > 52 {
			t.Errorf("%s: %d links to the run's invocations, want the 50 listed (and the run's own)", c.name, got)
		}
	}
}

// TestLargeFamiliesAreNotCounted shows a parent and a run with more
// invocations than the pages count: they say "more than 1,000" rather than
// read every one, where the backend can stop at a bound
// (state.BoundedCounter), and count them all where it cannot.
func TestLargeFamiliesAreNotCounted(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()
	task := state.TaskID{Module: "m", FuncName: "fan"}
	run := state.WorkflowIdentity{WorkflowID: "root", WorkflowType: task}
	ts := time.Now().UTC().Add(-time.Minute)
	invs := []state.Invocation{{ID: "root", CallID: state.CallID{Task: task, ArgsID: "root"}, Workflow: run}}
	ids := []state.InvocationID{"root"}
	for i := range 1050 {
		id := state.InvocationID(fmt.Sprintf("kid-%04d", i))
		invs = append(invs, state.Invocation{ID: id, CallID: state.CallID{Task: task, ArgsID: string(id)}, Workflow: run, ParentInvocationID: "root"})
		ids = append(ids, id)
	}
	if err := s.UpsertInvocations(ctx, invs); err != nil {
		t.Fatal(err)
	}
	if err := s.AddHistory(ctx, ids, state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: ts}}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreWorkflowRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	bounded := newMonitor(t, s, monitor.Options{})
	mustGet(t, bounded, "/invocations/root", `<a href="../invocations?parent=root">and more than 1,000 in all</a>`)
	mustGet(t, bounded, "/workflow-runs/root", "<dd>more than 1,000 · ", "The 50 that changed last of more than 1,000.")
	// A Browser that cannot stop counts them all.
	exact := newMonitor(t, browserOnly{s}, monitor.Options{})
	mustGet(t, exact, "/invocations/root", `<a href="../invocations?parent=root">and 1,040 more</a>`)
	mustGet(t, exact, "/workflow-runs/root", "<dd>1,051 · ", "The 50 that changed last of 1,051.")
}

// browserOnly hides every optional interface of a backend but
// state.Browser.
type browserOnly struct{ browsingBackend }

type browsingBackend interface {
	state.Backend
	state.Browser
}
