package conformance

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// The browse group's worlds, brute force and checks.

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

// summaryIDs returns the ids of ss, in order.
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
	i := 0
	for i < len(got) && i < len(want) && sameSummary(got[i], want[i]) {
		i++
	}
	if i < len(got) || i < len(want) {
		t.Fatalf("%s: got %d invocations, want %d; first difference at [%d]\ngot:\n%swant:\n%s", what, len(got), len(want), i,
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

// wantList fails the test unless the pages of ListInvocations(f) at page
// size limit hold exactly want.
func wantList(t *testing.T, br state.Browser, what string, f state.InvocationFilter, limit int, want []state.InvocationSummary) {
	t.Helper()
	wantWalk(t, fmt.Sprintf("ListInvocations(%s, limit %d)", what, limit), limit, listPages(ctx(t), br, f, limit), want)
}

// wantCount checks CountInvocations(f) with and without byTask against tr,
// and, for a state.BoundedCounter, CountInvocationsUpTo(f) at limits below,
// at and above the number of matches.
func wantCount(t *testing.T, br state.Browser, what string, f state.InvocationFilter, tr browseTruth) {
	t.Helper()
	for _, byTask := range []bool{false, true} {
		got, err := br.CountInvocations(ctx(t), f, byTask)
		noErr(t, fmt.Sprintf("CountInvocations(%s, byTask %v)", what, byTask), err)
		wantCounts(t, fmt.Sprintf("CountInvocations(%s, byTask %v)", what, byTask), got, tr.counts(f, byTask))
	}
	bc, ok := br.(state.BoundedCounter)
	if !ok {
		return
	}
	n := len(tr.list(f))
	for _, limit := range []int{1, n - 1, n, n + 1, state.MaxCountLimit} {
		if limit < 1 {
			continue
		}
		for _, byTask := range []bool{false, true} {
			call := fmt.Sprintf("CountInvocationsUpTo(%s, byTask %v, limit %d) of %d matches", what, byTask, limit, n)
			got, complete, err := bc.CountInvocationsUpTo(ctx(t), f, byTask, limit)
			noErr(t, call, err)
			switch {
			case n <= limit && !complete:
				t.Fatalf("%s: not complete", call)
			case n <= limit:
				wantCounts(t, call, got, tr.counts(f, byTask))
			case complete:
				t.Fatalf("%s: complete, with counts %s", call, describeCounts(got))
			case len(got) != 0:
				t.Fatalf("%s: not complete, yet with counts %s", call, describeCounts(got))
			}
		}
	}
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
	withHistory := invocationIDsOf(invs[:n])
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

func invocationIDsOf(invs []state.Invocation) []state.InvocationID {
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

// pagesWorld writes 116 invocations of two tasks and 4 ids with history
// only, three at each instant so that pages end between equal instants.
func pagesWorld(t *testing.T, b state.Backend, prefix string) (*browseWorld, []state.TaskID) {
	t.Helper()
	w := newBrowseWorld(t, b)
	tasks := []state.TaskID{task(prefix + "_a"), task(prefix + "_b")}
	var ids []state.InvocationID
	var invs []state.Invocation
	for i := range 120 {
		id := state.InvocationID(fmt.Sprintf("%s-%03d", prefix, (i*37)%120)) // ids not in time order
		if i%30 == 29 {
			id = state.InvocationID(fmt.Sprintf("%s-lone-%d", prefix, i))
		} else {
			tk := tasks[i%2]
			invs = append(invs, invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, ""))
		}
		ids = append(ids, id)
	}
	w.upsert(invs...)
	statuses := []state.Status{state.StatusRunning, state.StatusPending, state.StatusSuccess}
	for i := 0; i < len(ids); i += 3 {
		ts := baseTime.Add(time.Duration(i/3) * time.Second)
		w.add(statusAt(statuses[i/3%3], ts, "rc-pages"), ids[i:i+3]...)
	}
	return w, tasks
}
