package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// browseTests returns the tests of group "browse", for backends that
// implement state.Browser; the others skip them, saying so. Every test
// compares the Browser with a brute force computed from History and
// Invocations: the current status of an id is the last record History
// returns for it.
func browseTests() []Test {
	tests := []Test{
		{Name: "current_status_is_last_history_record", Run: testBrowseCurrent},
		{Name: "every_filter_alone_and_combined", Run: testBrowseFilters},
		{Name: "counts_per_status_and_task", Run: testBrowseCounts},
		{Name: "pages_walk_the_listing_once", Run: testBrowsePages},
		{Name: "pages_with_writers_between", Run: testBrowsePagesWithWriters},
		{Name: "stuck_older_than", Run: testBrowseStuck},
		{Name: "invalid_input", Run: testBrowseInvalid},
		{Name: "closed_and_cancelled", Run: testBrowseLifecycle},
	}
	for i := range tests {
		tests[i].Group = "browse"
	}
	return tests
}

// testBrowseCurrent checks which record is an invocation's current status,
// and every field of a summary, on hand-made histories.
func testBrowseCurrent(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newBrowseWorld(t, b)
	tk := task("browse_current")
	at := func(s int) time.Time { return baseTime.Add(time.Duration(s) * time.Second) }
	top := func(id state.InvocationID) state.Invocation {
		return invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, "")
	}
	root := top("cur-root")
	kid := invocationOf("cur-kid", task("browse_current_kid"), root.Workflow, root.ID)
	sub := invocationOf("cur-sub", tk, state.WorkflowIdentity{WorkflowID: "cur-sub", WorkflowType: tk, ParentWorkflowID: root.ID}, root.ID)
	w.upsert(root, kid, sub, top("cur-late"), top("cur-ties"), top("cur-fan-x"), top("cur-fan-y"),
		top("cur-replaced"), top("cur-nanos"), top("cur-no-history"))

	// The workflow members, each with a status of its own.
	w.add(statusAt(state.StatusRunning, at(1), "rc-root"), root.ID)
	w.add(statusAt(state.StatusPending, at(2), "rc-kid"), kid.ID)
	w.add(statusAt(state.StatusRegistered, at(2), "rc-sub"), sub.ID)
	// A late record, older than the current one, does not change it.
	w.add(statusAt(state.StatusRunning, at(10), "rc-a"), "cur-late")
	w.add(statusAt(state.StatusRegistered, at(5), "rc-b"), "cur-late")
	// Equal timestamps: the last written wins, whatever the statuses' names.
	w.add(statusAt(state.StatusPending, at(20), "rc-1"), "cur-ties")
	w.add(statusAt(state.StatusRunning, at(20), "rc-2"), "cur-ties")
	w.add(statusAt(state.StatusRegistered, at(20), "rc-3"), "cur-ties")
	// One record for two ids, then another at the same instant for one.
	w.add(statusAt(state.StatusRunning, at(30), "rc-fan"), "cur-fan-x", "cur-fan-y")
	w.add(statusAt(state.StatusPending, at(30), "rc-fan"), "cur-fan-y")
	// The same (invocation, timestamp, status) written again replaces its
	// record: the current status is what History then says.
	w.add(statusAt(state.StatusRunning, at(40), "rc-first"), "cur-replaced")
	w.add(statusAt(state.StatusFailed, at(40), "rc-first"), "cur-replaced")
	w.add(statusAt(state.StatusRunning, at(40), "rc-second"), "cur-replaced")
	// A timestamp below the microsecond reads back truncated.
	w.add(statusAt(state.StatusSuccess, at(50).Add(789*time.Nanosecond), "rc-nanos"), "cur-nanos")
	// Ids with history only: listed with an empty task.
	w.add(statusAt(state.StatusRetry, at(60), "rc-lone"), "cur-lone")
	w.add(statusAt(state.StatusFailed, at(61), "rc-lone"), "cur-lone")
	w.add(statusAt(state.StatusRunning, at(60), "rc-lone"), "cur-lone-2")

	tr := w.truth()
	// The brute force itself, on the cases with a known answer.
	want := map[state.InvocationID]state.Status{
		"cur-late": state.StatusRunning, "cur-ties": state.StatusRegistered,
		"cur-fan-x": state.StatusRunning, "cur-fan-y": state.StatusPending, "cur-lone": state.StatusFailed,
	}
	for _, s := range tr {
		if st, ok := want[s.ID]; ok && s.Status.Status != st {
			t.Fatalf("History(%q) ends with %s, want %s: the history group fails too", s.ID, s.Status.Status, st)
		}
	}
	if len(tr) != 11 {
		t.Fatalf("%d ids with history, want 11 (cur-no-history has none):\n%s", len(tr), describeSummaries(tr))
	}
	nanos := slices.IndexFunc(tr, func(s state.InvocationSummary) bool { return s.ID == "cur-nanos" })
	if wantAt := at(50); !tr[nanos].ChangedAt.Equal(wantAt) {
		t.Fatalf("History(cur-nanos) has its record at %s, want %s", tr[nanos].ChangedAt, wantAt)
	}

	all := tr.list(state.InvocationFilter{})
	wantList(t, br, "zero filter", state.InvocationFilter{}, 0, all)
	wantList(t, br, "zero filter", state.InvocationFilter{}, 1, all)
	for _, st := range []state.Status{state.StatusRegistered, state.StatusRunning, state.StatusPending, state.StatusFailed} {
		f := state.InvocationFilter{Statuses: []state.Status{st}}
		wantList(t, br, "status "+string(st), f, 0, tr.list(f))
	}
	for _, rc := range []string{"rc-a", "rc-b", "rc-3", "rc-second", "rc-first", "rc-lone"} {
		f := state.InvocationFilter{RunnerContextID: rc}
		wantList(t, br, "runner context "+rc, f, 0, tr.list(f))
	}
	f := state.InvocationFilter{ChangedSince: at(5), ChangedBefore: at(11)}
	wantList(t, br, "changed in [5s, 11s)", f, 0, tr.list(f)) // cur-late at 10s, not at 5s
	wantCount(t, br, "zero filter", state.InvocationFilter{}, tr)
	wantCount(t, br, "task", state.InvocationFilter{Tasks: []state.TaskID{tk}}, tr)

	// An id with history only lists its task once it is upserted.
	w.upsert(top("cur-lone-2"))
	tr = w.truth()
	wantList(t, br, "zero filter, cur-lone-2 upserted", state.InvocationFilter{}, 0, tr.list(state.InvocationFilter{}))
	wantCount(t, br, "zero filter, cur-lone-2 upserted", state.InvocationFilter{}, tr)
}

func testBrowseFilters(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newMixedWorld(t, b, "browse_filters", 80, 1)
	// Another app's invocations are not this app's.
	newMixedWorld(t, h.Open(t, NewAppID()), "browse_filters", 10, 2)
	tr := w.truth()
	all := tr.list(state.InvocationFilter{})
	times := changeTimes(all)
	since, before := times[len(times)/3], times[2*len(times)/3]
	tasks, roots := w.tasks, w.roots
	kid := slices.IndexFunc(all, func(s state.InvocationSummary) bool {
		return s.ParentInvocationID != "" && s.ParentInvocationID != roots[0].ID && s.ParentInvocationID != roots[1].ID && s.ParentInvocationID != roots[2].ID
	})
	if kid < 0 {
		t.Fatal("the world has no grandchild with history")
	}
	grandparent := all[kid].ParentInvocationID
	alone := []struct {
		name string
		f    state.InvocationFilter
	}{
		{"one task", state.InvocationFilter{Tasks: tasks[:1]}},
		{"two tasks", state.InvocationFilter{Tasks: tasks[1:]}},
		{"one status", state.InvocationFilter{Statuses: []state.Status{state.StatusRunning}}},
		{"two statuses", state.InvocationFilter{Statuses: []state.Status{state.StatusFailed, state.StatusSuccess}}},
		{"workflow id", state.InvocationFilter{WorkflowID: roots[0].ID}},
		{"workflow type", state.InvocationFilter{WorkflowType: tasks[1]}},
		{"parent", state.InvocationFilter{ParentInvocationID: roots[1].ID}},
		{"parent of a grandchild", state.InvocationFilter{ParentInvocationID: grandparent}},
		{"runner context", state.InvocationFilter{RunnerContextID: "rc-2"}},
		{"changed since", state.InvocationFilter{ChangedSince: since}},
		{"changed before", state.InvocationFilter{ChangedBefore: before}},
		{"changed in a window", state.InvocationFilter{ChangedSince: since, ChangedBefore: before}},
	}
	wantList(t, br, "zero filter", state.InvocationFilter{}, 0, all)
	wantCount(t, br, "zero filter", state.InvocationFilter{}, tr)
	for _, c := range alone {
		want := tr.list(c.f)
		// Each filter keeps some and drops some, so ignoring it shows.
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("filter %s keeps %d of %d invocations: the world does not test it", c.name, len(want), len(all))
		}
		wantList(t, br, c.name, c.f, 0, want)
		wantList(t, br, c.name, c.f, 7, want)
		wantCount(t, br, c.name, c.f, tr)
	}
	// The bounds: ChangedSince inclusive, ChangedBefore exclusive.
	if got := tr.list(state.InvocationFilter{ChangedSince: since, ChangedBefore: since.Add(time.Microsecond)}); len(got) == 0 {
		t.Fatal("no invocation changed at the ChangedSince bound: the world does not test it")
	}
	for _, f := range []state.InvocationFilter{
		{ChangedSince: since, ChangedBefore: since.Add(time.Microsecond)},
		{ChangedSince: before.Add(-time.Microsecond), ChangedBefore: before},
	} {
		wantList(t, br, fmt.Sprintf("changed in [%s, %s)", f.ChangedSince.Format(time.RFC3339Nano), f.ChangedBefore.Format(time.RFC3339Nano)), f, 0, tr.list(f))
		wantCount(t, br, "one microsecond", f, tr)
	}
	combined := []struct {
		name string
		f    state.InvocationFilter
	}{
		{"tasks, statuses and runner context", state.InvocationFilter{
			Tasks: tasks[:2], Statuses: []state.Status{state.StatusRunning, state.StatusPending, state.StatusSuccess}, RunnerContextID: "rc-1"}},
		{"workflow and window", state.InvocationFilter{WorkflowID: roots[0].ID, ChangedSince: since}},
		{"type, parent and before", state.InvocationFilter{WorkflowType: tasks[0], ParentInvocationID: roots[0].ID, ChangedBefore: before}},
		{"every field", state.InvocationFilter{
			Tasks: tasks, Statuses: mixedStatuses[1:], WorkflowID: roots[2].ID, WorkflowType: tasks[2],
			ParentInvocationID: roots[2].ID, RunnerContextID: "rc-3", ChangedSince: times[0], ChangedBefore: times[len(times)-1]}},
		{"a task without invocations", state.InvocationFilter{Tasks: []state.TaskID{task("browse_filters_none")}}},
		{"an unknown runner context", state.InvocationFilter{RunnerContextID: "rc-none"}},
		{"a window without changes", state.InvocationFilter{ChangedSince: baseTime.Add(-time.Hour), ChangedBefore: baseTime.Add(-time.Minute)}},
	}
	for _, c := range combined {
		want := tr.list(c.f)
		wantList(t, br, c.name, c.f, 0, want)
		wantList(t, br, c.name, c.f, 3, want)
		wantCount(t, br, c.name, c.f, tr)
	}
}

func testBrowseCounts(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newMixedWorld(t, b, "browse_counts", 60, 3)
	tr := w.truth()
	byTask, err := br.CountInvocations(ctx(t), state.InvocationFilter{}, true)
	noErr(t, "CountInvocations(byTask)", err)
	wantCounts(t, "CountInvocations(zero filter, byTask)", byTask, tr.counts(state.InvocationFilter{}, true))
	// What the world promises: ids with history only count under the empty
	// task, invocations without history nowhere, and the task whose key
	// sorts first (though its module sorts last) comes first after it.
	var total, lone int64
	for _, c := range byTask {
		total += c.Count
		if c.Task.IsZero() {
			lone += c.Count
		}
	}
	if total != int64(len(tr)) || lone != 5 {
		t.Fatalf("CountInvocations(byTask) counts %d invocations, %d of them with history only; want %d and 5 (%d invocations have no history)",
			total, lone, len(tr), len(w.ids)-len(tr))
	}
	if i := slices.IndexFunc(byTask, func(c state.StatusCount) bool { return !c.Task.IsZero() }); i < 0 || byTask[i].Task != w.tasks[2] {
		t.Fatalf("CountInvocations(byTask): the first task of %s is not %q (rows are ordered by task key)", describeCounts(byTask), w.tasks[2])
	}
	for _, f := range []state.InvocationFilter{
		{},
		{Tasks: w.tasks[1:]},
		{Statuses: []state.Status{state.StatusRunning, state.StatusRetry}},
		{WorkflowType: w.tasks[0]},
		{ParentInvocationID: w.roots[0].ID, RunnerContextID: "rc-1"},
		{ChangedSince: baseTime.Add(20 * time.Second), ChangedBefore: baseTime.Add(40 * time.Second)},
	} {
		wantCount(t, br, fmt.Sprintf("%+v", f), f, tr)
		// A backend that estimates must count exactly when it says the
		// counts are not estimates.
		if est, ok := br.(state.CountEstimator); ok {
			for _, byTask := range []bool{false, true} {
				got, estimated, err := est.EstimateInvocations(ctx(t), f, byTask)
				noErr(t, "EstimateInvocations", err)
				if !estimated {
					wantCounts(t, fmt.Sprintf("EstimateInvocations(%+v, %t), not estimated", f, byTask), got, tr.counts(f, byTask))
				}
			}
		}
	}
	// A new current status moves an invocation from one row to another.
	id := w.roots[0].ID
	w.add(statusAt(state.StatusKilled, baseTime.Add(time.Hour), "rc-1"), id)
	tr = w.truth()
	wantCount(t, br, "after a new status", state.InvocationFilter{}, tr)
	got, err := br.CountInvocations(ctx(t), state.InvocationFilter{Statuses: []state.Status{state.StatusKilled}}, true)
	noErr(t, "CountInvocations(killed)", err)
	wantCounts(t, "CountInvocations(killed, byTask)", got, []state.StatusCount{{Task: w.tasks[0], Status: state.StatusKilled, Count: 1}})
}

func testBrowsePages(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w, tasks := pagesWorld(t, b, "browse_pages")
	tr := w.truth()
	all := tr.list(state.InvocationFilter{})
	if len(all) != 120 {
		t.Fatalf("%d invocations with history, want 120", len(all))
	}
	// Some page sizes divide 120: the last page is full, and its Next empty.
	for _, limit := range []int{1, 2, 7, 8, 0, 119, 120, 121, state.MaxPageSize} {
		wantList(t, br, "zero filter", state.InvocationFilter{}, limit, all)
	}
	for _, f := range []state.InvocationFilter{
		{Tasks: tasks[:1]},
		{Statuses: []state.Status{state.StatusRunning, state.StatusSuccess}},
		{Tasks: tasks, Statuses: []state.Status{state.StatusPending}, ChangedSince: baseTime.Add(5 * time.Second)},
	} {
		want := tr.list(f)
		for _, limit := range []int{4, 5} { // not multiples of 3: pages end between equal instants
			wantList(t, br, fmt.Sprintf("%+v", f), f, limit, want)
		}
	}
	// Stuck invocations page the same way, oldest first.
	statuses := []state.Status{state.StatusRunning, state.StatusPending}
	want := tr.stuck(statuses, time.Now().Add(-time.Hour))
	for _, limit := range []int{2, 5, 0} {
		wantWalk(t, fmt.Sprintf("StuckInvocations(running, pending; 1h; limit %d)", limit), limit,
			stuckPages(ctx(t), br, statuses, time.Hour, limit), want)
	}
}

// testBrowsePagesWithWriters walks a listing while two writers add
// invocations between the page reads and during them: some changed before
// every other (they sort before the cursor), some at the same instants as
// listed ones (either side of it), some after every other. No invocation
// may be listed twice, and each of those listed before the walk began is
// listed exactly once.
func testBrowsePagesWithWriters(t *testing.T, h Harness) {
	const (
		writers = 2
		rounds  = 8
		limit   = 7
	)
	b := open(t, h)
	br := browser(t, b)
	w := newBrowseWorld(t, b)
	tk := task("browse_writers")
	var invs []state.Invocation
	for i := range 90 {
		id := state.InvocationID(fmt.Sprintf("wr-%03d", i))
		invs = append(invs, invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, ""))
	}
	w.upsert(invs...)
	for i := 0; i < 90; i += 3 { // three at each instant
		w.add(statusAt(state.StatusRunning, baseTime.Add(time.Duration(i/3)*time.Second), "rc-writers"), invocationIDsOf(invs[i:i+3])...)
	}
	f := state.InvocationFilter{Tasks: []state.TaskID{tk}}
	before := w.truth().list(f)

	// Writer g's batch of round r, phase p: three new invocations.
	write := func(c context.Context, g, r int, p string) error {
		base := state.InvocationID(fmt.Sprintf("wr-%03d", (r*11+g*29)%90))
		batch := []struct {
			id state.InvocationID
			ts time.Time
		}{
			{state.InvocationID(fmt.Sprintf("new-%d-%d-%s-newest", g, r, p)), baseTime.Add(time.Hour + time.Duration(r*writers+g)*time.Millisecond)},
			{base + state.InvocationID(fmt.Sprintf("-new-%d-%d-%s", g, r, p)), baseTime.Add(time.Duration((r*11+g*29)%90/3) * time.Second)},
			{state.InvocationID(fmt.Sprintf("new-%d-%d-%s-oldest", g, r, p)), baseTime.Add(-time.Hour - time.Duration(r*writers+g)*time.Millisecond)},
		}
		for _, n := range batch {
			if err := b.UpsertInvocations(c, []state.Invocation{invocationOf(n.id, tk, state.WorkflowIdentity{WorkflowID: n.id, WorkflowType: tk}, "")}); err != nil {
				return err
			}
			if err := b.AddHistory(c, []state.InvocationID{n.id}, statusAt(state.StatusRunning, n.ts, "rc-writers")); err != nil {
				return err
			}
		}
		return nil
	}
	c := ctx(t)
	start := make([]chan int, writers)
	stop := sync.OnceFunc(func() {
		for g := range writers {
			close(start[g])
		}
	})
	defer stop()
	doneA, doneB := make(chan error, writers), make(chan error, writers)
	for g := range writers {
		start[g] = make(chan int)
		go func() {
			for r := range start[g] {
				doneA <- write(c, g, r, "a") // between the page reads
				doneB <- write(c, g, r, "b") // while the next page is read
			}
		}()
	}
	waitAll := func(done chan error, what string) {
		t.Helper()
		for range writers {
			noErr(t, what, <-done)
		}
	}
	round := 0
	between := func(int) {
		if round == rounds {
			return
		}
		if round > 0 {
			waitAll(doneB, "writer during a page read")
		}
		for g := range writers {
			start[g] <- round
		}
		waitAll(doneA, "writer between page reads")
		round++
	}
	pages := walk(t, "ListInvocations(task, limit 7) with writers", limit, 1000, listPages(c, br, f, limit), between)
	stop()
	if round > 0 {
		waitAll(doneB, "writer during a page read")
	}
	if round < rounds {
		t.Fatalf("the walk ended after %d pages, before the writers' %d rounds", len(pages), rounds)
	}

	got := flatten(pages)
	for i := 1; i < len(got); i++ {
		if compareChange(got[i-1], got[i]) <= 0 {
			t.Fatalf("ListInvocations with writers: %q (changed %s) listed after %q (changed %s): not newest first, or listed twice\npages %v:\n%s",
				got[i].ID, got[i].ChangedAt.Format(time.RFC3339Nano), got[i-1].ID, got[i-1].ChangedAt.Format(time.RFC3339Nano),
				batchSizes(pages), describeSummaries(got))
		}
	}
	seen := map[state.InvocationID]state.InvocationSummary{}
	for _, s := range got {
		seen[s.ID] = s
	}
	for _, s := range before {
		g, ok := seen[s.ID]
		if !ok {
			t.Fatalf("ListInvocations with writers: %q, listed before the walk and unchanged since, is missing\npages %v:\n%s",
				s.ID, batchSizes(pages), describeSummaries(got))
		}
		wantSummaries(t, fmt.Sprintf("ListInvocations with writers: %q", s.ID), []state.InvocationSummary{g}, []state.InvocationSummary{s})
	}
	// Once the writers are done, a walk lists exactly what History says.
	tr := truthOf(t, b, allInvocationIDs(t, b)) // every id of the test was upserted
	wantList(t, br, "task, after the writers", f, limit, tr.list(f))
}

// testBrowseStuck checks StuckInvocations against statuses set hours ago
// and a minute ago, so no clock can put one on the wrong side of an hour.
func testBrowseStuck(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newBrowseWorld(t, b)
	tk := task("browse_stuck")
	now := time.Now().UTC().Truncate(time.Microsecond)
	hoursAgo := func(n int) time.Time { return now.Add(-time.Duration(n) * time.Hour) }
	recent := now.Add(-time.Minute)
	top := func(id state.InvocationID) state.Invocation {
		return invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, "")
	}
	for i := range 6 { // two at each of three instants
		id := state.InvocationID(fmt.Sprintf("st-running-%d", i))
		w.upsert(top(id))
		w.add(statusAt(state.StatusRunning, hoursAgo(3+i/2), "rc-dead"), id)
	}
	w.upsert(top("st-recovery"), top("st-recent"), top("st-future"), top("st-done"), top("st-old-success"), top("st-late"), top("st-pending"), top("st-no-history"))
	w.add(statusAt(state.StatusRunningRecovery, hoursAgo(5), "rc-dead"), "st-recovery")
	w.add(statusAt(state.StatusRunning, recent, "rc-live"), "st-recent")
	w.add(statusAt(state.StatusRunning, now.Add(time.Hour), "rc-live"), "st-future")
	w.add(statusAt(state.StatusRunning, hoursAgo(4), "rc-live"), "st-done")
	w.add(statusAt(state.StatusSuccess, recent, "rc-live"), "st-done")
	w.add(statusAt(state.StatusSuccess, hoursAgo(6), "rc-live"), "st-old-success")
	w.add(statusAt(state.StatusRunning, hoursAgo(2), "rc-dead"), "st-late")
	w.add(statusAt(state.StatusPending, hoursAgo(7), "rc-dead"), "st-late") // late and older: not current
	w.add(statusAt(state.StatusPending, hoursAgo(3), "rc-dead"), "st-pending")
	w.add(statusAt(state.StatusRunning, hoursAgo(3), "rc-dead"), "st-lone") // history only
	tr := w.truth()

	running := []state.Status{state.StatusRunning, state.StatusRunningRecovery}
	cases := []struct {
		statuses  []state.Status
		olderThan time.Duration
		want      []state.InvocationID // the ids, to check the brute force
	}{
		{running, time.Hour, []state.InvocationID{"st-recovery", "st-running-4", "st-running-5", "st-running-2", "st-running-3", "st-lone", "st-running-0", "st-running-1", "st-late"}},
		{[]state.Status{state.StatusSuccess}, time.Hour, []state.InvocationID{"st-old-success"}},
		{[]state.Status{state.StatusPending}, time.Hour, []state.InvocationID{"st-pending"}},
		{[]state.Status{state.StatusRunning}, 4*time.Hour + 30*time.Minute, []state.InvocationID{"st-running-4", "st-running-5"}},
		{[]state.Status{state.StatusRunning}, 1000 * time.Hour, nil},
		{[]state.Status{state.StatusRunning}, time.Nanosecond, []state.InvocationID{"st-running-4", "st-running-5", "st-running-2", "st-running-3", "st-lone", "st-running-0", "st-running-1", "st-late", "st-recent"}},
	}
	for _, c := range cases {
		want := tr.stuck(c.statuses, time.Now().Add(-c.olderThan))
		wantIDs(t, fmt.Sprintf("brute force of stuck %v older than %s", c.statuses, c.olderThan), summaryIDs(want), c.want)
		for _, limit := range []int{1, 2, 0} {
			what := fmt.Sprintf("StuckInvocations(%v, %s, limit %d)", c.statuses, c.olderThan, limit)
			wantWalk(t, what, limit, stuckPages(ctx(t), br, c.statuses, c.olderThan, limit), want)
		}
	}
}

func testBrowseInvalid(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newBrowseWorld(t, b)
	tk := task("browse_invalid")
	for i := range 3 {
		id := state.InvocationID(fmt.Sprintf("inv-%d", i))
		w.upsert(invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, ""))
		w.add(statusAt(state.StatusRunning, baseTime.Add(time.Duration(i)*time.Second), "rc"), id)
	}
	c := ctx(t)
	// A valid cursor, to pair with bad filters.
	first, err := br.ListInvocations(c, state.InvocationFilter{}, state.PageRequest{Limit: 1})
	noErr(t, "ListInvocations(limit 1)", err)
	if first.Next == "" {
		t.Fatal("ListInvocations(limit 1) of 3 invocations: no Next")
	}
	tooMany := make([]state.TaskID, 101)
	for i := range tooMany {
		tooMany[i] = task(fmt.Sprintf("t%d", i))
	}
	badFilters := map[string]state.InvocationFilter{
		"unknown status":                {Statuses: []state.Status{state.StatusRunning, "bogus"}},
		"empty status":                  {Statuses: []state.Status{""}},
		"task without module":           {Tasks: []state.TaskID{{FuncName: "f"}}},
		"task with a dotted function":   {Tasks: []state.TaskID{{Module: "m", FuncName: "a.b"}}},
		"101 tasks":                     {Tasks: tooMany},
		"workflow type without module":  {WorkflowType: state.TaskID{FuncName: "f"}},
		"runner context not UTF-8":      {RunnerContextID: "rc\xff"},
		"parent with a NUL":             {ParentInvocationID: "p\x00"},
		"ChangedSince == ChangedBefore": {ChangedSince: baseTime, ChangedBefore: baseTime},
		"ChangedSince after ChangedBefore": {
			ChangedSince: baseTime.Add(time.Second), ChangedBefore: baseTime},
		"ChangedSince before year 1": {ChangedSince: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	for name, f := range badFilters {
		_, err := br.ListInvocations(c, f, state.PageRequest{})
		wantInvalid(t, "ListInvocations("+name+")", err)
		_, err = br.ListInvocations(c, f, state.PageRequest{Limit: 1, After: first.Next})
		wantInvalid(t, "ListInvocations("+name+", second page)", err)
		for _, byTask := range []bool{false, true} {
			_, err = br.CountInvocations(c, f, byTask)
			wantInvalid(t, fmt.Sprintf("CountInvocations(%s, byTask %v)", name, byTask), err)
		}
		if bc, ok := br.(state.BoundedCounter); ok {
			_, _, err = bc.CountInvocationsUpTo(c, f, false, 10)
			wantInvalid(t, "CountInvocationsUpTo("+name+")", err)
		}
	}
	if bc, ok := br.(state.BoundedCounter); ok {
		for _, limit := range []int{0, -1, state.MaxCountLimit + 1} {
			_, _, err = bc.CountInvocationsUpTo(c, state.InvocationFilter{}, false, limit)
			wantInvalid(t, fmt.Sprintf("CountInvocationsUpTo(limit %d)", limit), err)
		}
	}
	// Bad pages. The malformed cursors are strings no encoding of a
	// position produces: not base64, not a number, no separator.
	badPages := map[string]state.PageRequest{
		"limit -1":                  {Limit: -1},
		"limit over MaxPageSize":    {Limit: state.MaxPageSize + 1},
		"malformed cursor":          {After: "%%% not a cursor %%%"},
		"one-byte cursor":           {After: "%"},
		"cursor over 1024 bytes":    {After: state.Cursor(strings.Repeat("A", 1025))},
		"valid cursor, bad limit":   {Limit: -5, After: first.Next},
		"cursor not UTF-8 and junk": {After: "\xff\xfe"},
	}
	running := []state.Status{state.StatusRunning}
	for name, p := range badPages {
		_, err := br.ListInvocations(c, state.InvocationFilter{}, p)
		wantInvalid(t, "ListInvocations("+name+")", err)
		_, err = br.StuckInvocations(c, running, time.Hour, p)
		wantInvalid(t, "StuckInvocations("+name+")", err)
	}
	badStuck := []struct {
		name      string
		statuses  []state.Status
		olderThan time.Duration
	}{
		{"nil statuses", nil, time.Hour},
		{"no statuses", []state.Status{}, time.Hour},
		{"unknown status", []state.Status{state.StatusRunning, "stuck"}, time.Hour},
		{"olderThan 0", running, 0},
		{"olderThan -1s", running, -time.Second},
	}
	for _, s := range badStuck {
		_, err := br.StuckInvocations(c, s.statuses, s.olderThan, state.PageRequest{})
		wantInvalid(t, "StuckInvocations("+s.name+")", err)
	}
	// What was listed is still there.
	tr := w.truth()
	wantList(t, br, "zero filter, after the bad calls", state.InvocationFilter{}, 0, tr.list(state.InvocationFilter{}))
}

func testBrowseLifecycle(t *testing.T, h Harness) {
	b := open(t, h)
	br := browser(t, b)
	w := newBrowseWorld(t, b)
	w.add(statusAt(state.StatusRunning, baseTime, "rc"), "inv-1")
	running := []state.Status{state.StatusRunning}
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := br.ListInvocations(cancelled, state.InvocationFilter{}, state.PageRequest{}); err == nil {
		t.Fatal("ListInvocations with a cancelled context: no error")
	}
	if _, err := br.CountInvocations(cancelled, state.InvocationFilter{}, true); err == nil {
		t.Fatal("CountInvocations with a cancelled context: no error")
	}
	if _, err := br.StuckInvocations(cancelled, running, time.Hour, state.PageRequest{}); err == nil {
		t.Fatal("StuckInvocations with a cancelled context: no error")
	}
	if bc, ok := br.(state.BoundedCounter); ok {
		if _, _, err := bc.CountInvocationsUpTo(cancelled, state.InvocationFilter{}, false, 10); err == nil {
			t.Fatal("CountInvocationsUpTo with a cancelled context: no error")
		}
	}
	wantList(t, br, "zero filter", state.InvocationFilter{}, 0, w.truth().list(state.InvocationFilter{}))
	noErr(t, "Close", b.Close())
	_, err := br.ListInvocations(ctx(t), state.InvocationFilter{}, state.PageRequest{})
	wantErr(t, "ListInvocations after Close", err, state.ErrClosed)
	_, err = br.CountInvocations(ctx(t), state.InvocationFilter{}, false)
	wantErr(t, "CountInvocations after Close", err, state.ErrClosed)
	_, err = br.StuckInvocations(ctx(t), running, time.Hour, state.PageRequest{})
	wantErr(t, "StuckInvocations after Close", err, state.ErrClosed)
	if bc, ok := br.(state.BoundedCounter); ok {
		_, _, err = bc.CountInvocationsUpTo(ctx(t), state.InvocationFilter{}, false, 10)
		wantErr(t, "CountInvocationsUpTo after Close", err, state.ErrClosed)
	}
}
