package conformance

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
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

// browser returns b as a Browser, or skips t.
func browser(t *testing.T, b state.Backend) state.Browser {
	t.Helper()
	br, ok := b.(state.Browser)
	if !ok {
		t.Skipf("browse: %T does not implement state.Browser", b)
	}
	return br
}

// browseWorld is what a browse test wrote through a backend: every id it
// gave an invocation or a history record, so the brute force reads exactly
// those back. Each test has an app of its own, so these are all the app's
// ids.
type browseWorld struct {
	t   *testing.T
	b   state.Backend
	ids []state.InvocationID
}

func newBrowseWorld(t *testing.T, b state.Backend) *browseWorld {
	return &browseWorld{t: t, b: b}
}

func (w *browseWorld) note(ids ...state.InvocationID) {
	for _, id := range ids {
		if !slices.Contains(w.ids, id) {
			w.ids = append(w.ids, id)
		}
	}
}

// upsert stores invs.
func (w *browseWorld) upsert(invs ...state.Invocation) {
	w.t.Helper()
	mustUpsert(w.t, w.b, invs...)
	for _, inv := range invs {
		w.note(inv.ID)
	}
}

// add adds h to the history of ids.
func (w *browseWorld) add(h state.InvocationHistory, ids ...state.InvocationID) {
	w.t.Helper()
	mustAddHistory(w.t, w.b, h, ids...)
	w.note(ids...)
}

// truth reads the world back through History and Invocations.
func (w *browseWorld) truth() browseTruth {
	w.t.Helper()
	return truthOf(w.t, w.b, w.ids)
}

// invocationOf returns an invocation of tk in workflow wf, called by parent.
func invocationOf(id state.InvocationID, tk state.TaskID, wf state.WorkflowIdentity, parent state.InvocationID) state.Invocation {
	return state.Invocation{
		ID:                 id,
		CallID:             state.CallID{Task: tk, ArgsID: state.NoArgs},
		Workflow:           wf,
		ParentInvocationID: parent,
	}
}

// statusAt returns a history record of status s at ts written by runner
// context rc. Its status record has a timestamp of its own, a millisecond
// earlier, so a backend that reports the wrong one as ChangedAt is caught.
func statusAt(s state.Status, ts time.Time, rc string) state.InvocationHistory {
	return state.InvocationHistory{
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: s, RunnerID: "runner-of-" + rc, Timestamp: ts.Add(-time.Millisecond)},
		RunnerContextID: rc,
	}
}

// browseTruth is the brute-force Browser the tests compare with: one
// summary per id with history, its current status the last record of its
// History, its task, workflow and parent those of its Invocation (zero for
// an id with history only).
type browseTruth []state.InvocationSummary

func truthOf(t *testing.T, b state.Backend, ids []state.InvocationID) browseTruth {
	t.Helper()
	invs := mustInvocations(t, b, ids...)
	var out browseTruth
	for _, id := range ids {
		hs := mustHistory(t, b, id)
		if len(hs) == 0 {
			continue
		}
		last := hs[len(hs)-1]
		s := state.InvocationSummary{
			ID:              id,
			Status:          last.StatusRecord,
			RunnerContextID: last.RunnerContextID,
			ChangedAt:       last.Timestamp,
		}
		if inv, ok := invs[id]; ok {
			s.Task = inv.CallID.Task
			s.Workflow = inv.Workflow
			s.ParentInvocationID = inv.ParentInvocationID
		}
		out = append(out, s)
	}
	return out
}

// browseMatch reports whether s passes filter f.
func browseMatch(f state.InvocationFilter, s state.InvocationSummary) bool {
	if len(f.Tasks) > 0 && (s.Task.IsZero() || !slices.Contains(f.Tasks, s.Task)) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, s.Status.Status) {
		return false
	}
	if f.WorkflowID != "" && s.Workflow.WorkflowID != f.WorkflowID {
		return false
	}
	if !f.WorkflowType.IsZero() && s.Workflow.WorkflowType != f.WorkflowType {
		return false
	}
	if f.ParentInvocationID != "" && s.ParentInvocationID != f.ParentInvocationID {
		return false
	}
	if f.RunnerContextID != "" && s.RunnerContextID != f.RunnerContextID {
		return false
	}
	if !f.ChangedSince.IsZero() && s.ChangedAt.Before(f.ChangedSince) {
		return false
	}
	return f.ChangedBefore.IsZero() || s.ChangedAt.Before(f.ChangedBefore)
}

// compareChange orders summaries by (ChangedAt, ID) ascending.
func compareChange(a, b state.InvocationSummary) int {
	return cmp.Or(a.ChangedAt.Compare(b.ChangedAt), cmp.Compare(a.ID, b.ID))
}

// list returns what ListInvocations(f) must list, in order: newest change
// first, then descending id.
func (tr browseTruth) list(f state.InvocationFilter) []state.InvocationSummary {
	var out []state.InvocationSummary
	for _, s := range tr {
		if browseMatch(f, s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b state.InvocationSummary) int { return compareChange(b, a) })
	return out
}

// stuck returns what StuckInvocations must list for statuses and a cutoff
// of cutoff: oldest change first, then ascending id.
func (tr browseTruth) stuck(statuses []state.Status, cutoff time.Time) []state.InvocationSummary {
	var out []state.InvocationSummary
	for _, s := range tr {
		if slices.Contains(statuses, s.Status.Status) && s.ChangedAt.Before(cutoff) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, compareChange)
	return out
}

// counts returns what CountInvocations(f, byTask) must return.
func (tr browseTruth) counts(f state.InvocationFilter, byTask bool) []state.StatusCount {
	var out []state.StatusCount
	for _, s := range tr.list(f) {
		row := state.StatusCount{Status: s.Status.Status, Count: 1}
		if byTask {
			row.Task = s.Task
		}
		i := slices.IndexFunc(out, func(c state.StatusCount) bool { return c.Task == row.Task && c.Status == row.Status })
		if i < 0 {
			out = append(out, row)
		} else {
			out[i].Count++
		}
	}
	slices.SortFunc(out, func(a, b state.StatusCount) int {
		return cmp.Or(strings.Compare(countTaskKey(a.Task), countTaskKey(b.Task)), strings.Compare(string(a.Status), string(b.Status)))
	})
	return out
}

// countTaskKey is what count rows are ordered by first: the task key, the
// empty string for the empty task of ids with history only.
func countTaskKey(tk state.TaskID) string {
	if tk.IsZero() {
		return ""
	}
	return tk.Key()
}

// ids returns the ids of ss, in order.
func summaryIDs(ss []state.InvocationSummary) []state.InvocationID {
	ids := make([]state.InvocationID, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// sameSummary reports whether got equals want in every field, its times
// the same instants as want's and in UTC.
func sameSummary(got, want state.InvocationSummary) bool {
	utc := func(g, w time.Time) bool { return g.Equal(w) && g.Location() == time.UTC }
	return got.ID == want.ID && got.Task == want.Task && got.Workflow == want.Workflow &&
		got.ParentInvocationID == want.ParentInvocationID &&
		got.Status.Status == want.Status.Status && got.Status.RunnerID == want.Status.RunnerID &&
		utc(got.Status.Timestamp, want.Status.Timestamp) &&
		got.RunnerContextID == want.RunnerContextID && utc(got.ChangedAt, want.ChangedAt)
}

// describeSummaries formats summaries one per line for failure messages.
func describeSummaries(ss []state.InvocationSummary) string {
	if len(ss) == 0 {
		return "  (none)\n"
	}
	var sb strings.Builder
	for i, s := range ss {
		fmt.Fprintf(&sb, "  [%d] %q changed %s: %s (runner %q at %s) context %q; task %q workflow %+v parent %q\n",
			i, s.ID, s.ChangedAt.Format(time.RFC3339Nano), s.Status.Status, s.Status.RunnerID,
			s.Status.Timestamp.Format(time.RFC3339Nano), s.RunnerContextID, countTaskKey(s.Task), s.Workflow, s.ParentInvocationID)
	}
	return sb.String()
}

// wantSummaries fails the test unless got holds exactly want, in order.
func wantSummaries(t *testing.T, what string, got, want []state.InvocationSummary) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameSummary(got[i], want[i])
	}
	if !ok {
		t.Fatalf("%s: got %d invocations, want %d\ngot:\n%swant:\n%s", what, len(got), len(want),
			describeSummaries(got), describeSummaries(want))
	}
}

// wantCounts fails the test unless got holds exactly want, in order.
func wantCounts(t *testing.T, what string, got, want []state.StatusCount) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\nwant %v", what, describeCounts(got), describeCounts(want))
	}
}

func describeCounts(cs []state.StatusCount) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("{%q %s %d}", countTaskKey(c.Task), c.Status, c.Count)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// fetchPage reads one page of a listing after a cursor.
type fetchPage func(after state.Cursor) (state.InvocationPage, error)

func listPages(c context.Context, br state.Browser, f state.InvocationFilter, limit int) fetchPage {
	return func(after state.Cursor) (state.InvocationPage, error) {
		return br.ListInvocations(c, f, state.PageRequest{Limit: limit, After: after})
	}
}

func stuckPages(c context.Context, br state.Browser, statuses []state.Status, olderThan time.Duration, limit int) fetchPage {
	return func(after state.Cursor) (state.InvocationPage, error) {
		return br.StuckInvocations(c, statuses, olderThan, state.PageRequest{Limit: limit, After: after})
	}
}

// walk reads the pages of a listing of page size size, following Next
// until it is empty, and returns them. A page holds at most size rows, and
// exactly size when its Next is set; a page read with a cursor (one that
// Next said was there) is not empty. between, when set, runs after every
// page that has a Next, before the following one is read. More than
// maxPages pages fail the test.
func walk(t *testing.T, what string, size, maxPages int, fetch fetchPage, between func(page int)) [][]state.InvocationSummary {
	t.Helper()
	var pages [][]state.InvocationSummary
	var after state.Cursor
	for {
		page, err := fetch(after)
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, len(pages), err)
		}
		n := len(page.Invocations)
		switch {
		case n > size:
			t.Fatalf("%s: page %d has %d invocations, more than the page size %d", what, len(pages), n, size)
		case page.Next != "" && n != size:
			t.Fatalf("%s: page %d has %d invocations and a Next: only the last page may hold fewer than the page size %d",
				what, len(pages), n, size)
		case after != "" && n == 0:
			t.Fatalf("%s: page %d, read with the Next of page %d, is empty: that page was the last and its Next should have been empty",
				what, len(pages), len(pages)-1)
		}
		pages = append(pages, page.Invocations)
		if page.Next == "" {
			return pages
		}
		if len(pages) >= maxPages {
			t.Fatalf("%s: still a Next after %d pages", what, len(pages))
		}
		if between != nil {
			between(len(pages) - 1)
		}
		after = page.Next
	}
}

// wantWalk walks a listing at page size limit (0 for the default) and
// fails the test unless its pages, in order, hold exactly want.
func wantWalk(t *testing.T, what string, limit int, fetch fetchPage, want []state.InvocationSummary) {
	t.Helper()
	size := limit
	if size == 0 {
		size = state.DefaultPageSize
	}
	pages := walk(t, what, size, len(want)/size+2, fetch, nil)
	if wantPages := max(1, (len(want)+size-1)/size); len(pages) != wantPages {
		t.Fatalf("%s: %d pages of sizes %v for %d invocations at %d a page, want %d pages",
			what, len(pages), batchSizes(pages), len(want), size, wantPages)
	}
	wantSummaries(t, what, flatten(pages), want)
}

// mustList reads every page of ListInvocations(f) at page size limit.
func wantList(t *testing.T, br state.Browser, what string, f state.InvocationFilter, limit int, want []state.InvocationSummary) {
	t.Helper()
	wantWalk(t, fmt.Sprintf("ListInvocations(%s, limit %d)", what, limit), limit, listPages(ctx(t), br, f, limit), want)
}

// wantCount checks CountInvocations(f) with and without byTask against tr.
func wantCount(t *testing.T, br state.Browser, what string, f state.InvocationFilter, tr browseTruth) {
	t.Helper()
	for _, byTask := range []bool{false, true} {
		got, err := br.CountInvocations(ctx(t), f, byTask)
		noErr(t, fmt.Sprintf("CountInvocations(%s, byTask %v)", what, byTask), err)
		wantCounts(t, fmt.Sprintf("CountInvocations(%s, byTask %v)", what, byTask), got, tr.counts(f, byTask))
	}
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

// mixedWorld is a random world for the filter and count tests.
type mixedWorld struct {
	*browseWorld
	tasks    []state.TaskID
	roots    []state.Invocation
	contexts []string
}

// mixedStatuses are the statuses a mixed world uses.
var mixedStatuses = []state.Status{
	state.StatusRegistered, state.StatusPending, state.StatusRunning,
	state.StatusSuccess, state.StatusFailed, state.StatusRetry,
}

// newMixedWorld writes n invocations of three tasks (one whose key sorts
// before the others' though its module sorts after) in three workflows,
// children and grandchildren, sub-workflows and top-level invocations, with
// one to four history records each at random instants of one minute (so
// records arrive out of order and instants repeat), some written for
// several ids at once; five more invocations without history and five ids
// with history only. It is the same world for the same seed.
func newMixedWorld(t *testing.T, b state.Backend, prefix string, n int, seed uint64) *mixedWorld {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	w := &mixedWorld{
		browseWorld: newBrowseWorld(t, b),
		tasks: []state.TaskID{
			task(prefix + "_a"), task(prefix + "_b"),
			{Module: "conformance.tasks-" + prefix, FuncName: "c"},
		},
		contexts: []string{"rc-1", "rc-2", "rc-3"},
	}
	var invs, kids []state.Invocation
	for i, tk := range w.tasks {
		id := state.InvocationID(fmt.Sprintf("%s-root-%d", prefix, i))
		root := invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, "")
		w.roots = append(w.roots, root)
		invs = append(invs, root)
	}
	for i := len(invs); i < n+5; i++ {
		id := state.InvocationID(fmt.Sprintf("%s-%03d", prefix, i))
		tk := w.tasks[rng.IntN(len(w.tasks))]
		root := w.roots[rng.IntN(len(w.roots))]
		var inv state.Invocation
		switch rng.IntN(4) {
		case 0: // top level
			inv = invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, "")
		case 1: // a child of a root
			inv = invocationOf(id, tk, root.Workflow, root.ID)
			kids = append(kids, inv)
		case 2: // a grandchild, in its grandparent's workflow
			parent := root
			if len(kids) > 0 {
				parent = kids[rng.IntN(len(kids))]
			}
			inv = invocationOf(id, tk, parent.Workflow, parent.ID)
		default: // a sub-workflow started by a root
			inv = invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk, ParentWorkflowID: root.Workflow.WorkflowID}, root.ID)
		}
		invs = append(invs, inv)
	}
	w.upsert(invs...)
	withHistory := summaryIDsOf(invs[:n])
	for i := range 5 {
		withHistory = append(withHistory, state.InvocationID(fmt.Sprintf("%s-lone-%d", prefix, i)))
	}
	for _, id := range withHistory {
		for range 1 + rng.IntN(4) {
			ts := baseTime.Add(time.Duration(rng.IntN(60))*time.Second + time.Duration(rng.IntN(3))*time.Microsecond)
			rec := statusAt(mixedStatuses[rng.IntN(len(mixedStatuses))], ts, w.contexts[rng.IntN(len(w.contexts))])
			ids := []state.InvocationID{id}
			if rng.IntN(5) == 0 { // the same record for another id too
				if other := withHistory[rng.IntN(len(withHistory))]; other != id {
					ids = append(ids, other)
				}
			}
			w.add(rec, ids...)
		}
	}
	return w
}

func summaryIDsOf(invs []state.Invocation) []state.InvocationID {
	ids := make([]state.InvocationID, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
	}
	return ids
}

// changeTimes returns the distinct ChangedAt of ss, ascending.
func changeTimes(ss []state.InvocationSummary) []time.Time {
	var out []time.Time
	for _, s := range ss {
		out = append(out, s.ChangedAt)
	}
	slices.SortFunc(out, time.Time.Compare)
	return slices.CompactFunc(out, time.Time.Equal)
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
	if i := slices.IndexFunc(byTask, func(c state.StatusCount) bool { return !c.Task.IsZero() }); byTask[i].Task != w.tasks[2] {
		t.Fatalf("CountInvocations(byTask): the first task is %q, want %q (rows are ordered by task key)", byTask[i].Task, w.tasks[2])
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

// pagesWorld writes 116 invocations of two tasks and 4 ids with history
// only, three at each instant so that pages end between equal instants.
func pagesWorld(t *testing.T, b state.Backend, prefix string) (*browseWorld, []state.TaskID) {
	t.Helper()
	w := newBrowseWorld(t, b)
	tasks := []state.TaskID{task(prefix + "_a"), task(prefix + "_b")}
	var ids []state.InvocationID
	for i := range 120 {
		id := state.InvocationID(fmt.Sprintf("%s-%03d", prefix, (i*37)%120)) // ids not in time order
		if i%30 == 29 {
			id = state.InvocationID(fmt.Sprintf("%s-lone-%d", prefix, i))
		} else {
			tk := tasks[i%2]
			w.upsert(invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, ""))
		}
		ids = append(ids, id)
	}
	statuses := []state.Status{state.StatusRunning, state.StatusPending, state.StatusSuccess}
	for i := 0; i < len(ids); i += 3 {
		ts := baseTime.Add(time.Duration(i/3) * time.Second)
		w.add(statusAt(statuses[i/3%3], ts, "rc-pages"), ids[i:i+3]...)
	}
	return w, tasks
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
	// Pages of 8 and 120 end exactly at the last invocation; the others not.
	for _, limit := range []int{1, 2, 7, 8, 0, 119, 120, 121, state.MaxPageSize} {
		wantList(t, br, "zero filter", state.InvocationFilter{}, limit, all)
	}
	for _, f := range []state.InvocationFilter{
		{Tasks: tasks[:1]},
		{Statuses: []state.Status{state.StatusRunning, state.StatusSuccess}},
		{Tasks: tasks, Statuses: []state.Status{state.StatusPending}, ChangedSince: baseTime.Add(5 * time.Second)},
	} {
		want := tr.list(f)
		for _, limit := range []int{1, 4, 5} {
			wantList(t, br, fmt.Sprintf("%+v", f), f, limit, want)
		}
	}
	// Stuck invocations page the same way, oldest first.
	statuses := []state.Status{state.StatusRunning, state.StatusPending}
	want := tr.stuck(statuses, time.Now().Add(-time.Hour))
	for _, limit := range []int{1, 3, 5, 0} {
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
	for i := range 90 {
		id := state.InvocationID(fmt.Sprintf("wr-%03d", i))
		w.upsert(invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, ""))
		w.add(statusAt(state.StatusRunning, baseTime.Add(time.Duration(i/3)*time.Second), "rc-writers"), id)
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
	}
	// Strings no backend produces as a cursor: not base64, not a number,
	// no separator.
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
	wantList(t, br, "zero filter", state.InvocationFilter{}, 0, w.truth().list(state.InvocationFilter{}))
	noErr(t, "Close", b.Close())
	_, err := br.ListInvocations(ctx(t), state.InvocationFilter{}, state.PageRequest{})
	wantErr(t, "ListInvocations after Close", err, state.ErrClosed)
	_, err = br.CountInvocations(ctx(t), state.InvocationFilter{}, false)
	wantErr(t, "CountInvocations after Close", err, state.ErrClosed)
	_, err = br.StuckInvocations(ctx(t), running, time.Hour, state.PageRequest{})
	wantErr(t, "StuckInvocations after Close", err, state.ErrClosed)
}
