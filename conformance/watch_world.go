package conformance

// Helpers of the watch group: running watches to their end, comparing
// changes, and the world of writes the tests compare the watches with.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// watcher returns b as a Watcher, or skips t.
func watcher(t *testing.T, b state.Backend) state.Watcher {
	t.Helper()
	w, ok := b.(state.Watcher)
	if !ok {
		t.Skipf("watch: %T does not implement state.Watcher", b)
	}
	return w
}

// watchAll runs the watch req under c until its sequence ends and returns
// the changes it yielded and the error it ended with (nil when none). It
// fails t when the sequence breaks its shape: an error with a non-zero
// change, anything after an error, a change without a cursor, a cursor
// repeated or too long to be passed back.
func watchAll(t *testing.T, c context.Context, w state.Watcher, req state.WatchRequest) ([]state.Change, error) {
	t.Helper()
	var got []state.Change
	var end error
	cursors := map[state.ChangeCursor]bool{}
	for ch, err := range w.Watch(c, req) {
		if end != nil {
			t.Fatalf("%s: yielded (%s, %v) after the error %v: an error ends the sequence", describeWatch(req), describeChange(ch), err, end)
		}
		if err != nil {
			if ch != (state.Change{}) {
				t.Fatalf("%s: yielded the error %v with the change %s, want a zero Change", describeWatch(req), err, describeChange(ch))
			}
			end = err
			continue
		}
		checkCursor(t, req, ch, cursors)
		got = append(got, ch)
	}
	return got, end
}

// checkCursor fails t unless ch has a cursor that a watch can be given
// back, not seen before in the same watch (cursors).
func checkCursor(t *testing.T, req state.WatchRequest, ch state.Change, cursors map[state.ChangeCursor]bool) {
	t.Helper()
	switch {
	case ch.Cursor == "":
		t.Fatalf("%s: change %s has no cursor", describeWatch(req), describeChange(ch))
	case len(ch.Cursor) > 1024:
		t.Fatalf("%s: change %s has a cursor of %d bytes, longer than a WatchRequest accepts", describeWatch(req), describeChange(ch), len(ch.Cursor))
	case cursors[ch.Cursor]:
		t.Fatalf("%s: change %s has the cursor %q of an earlier change", describeWatch(req), describeChange(ch), ch.Cursor)
	}
	cursors[ch.Cursor] = true
}

// collect returns every change of the watch req without Follow. It fails t
// on an error, and when the watch has not ended within watchEndTimeout.
func collect(t *testing.T, w state.Watcher, req state.WatchRequest) []state.Change {
	t.Helper()
	req.Follow = false
	c, cancel := context.WithTimeout(ctx(t), watchEndTimeout)
	defer cancel()
	got, err := watchAll(t, c, w, req)
	if err != nil {
		if c.Err() != nil && ctx(t).Err() == nil {
			t.Fatalf("%s: still running after %s, having delivered %d changes (last error %v): a watch without Follow ends once it has delivered the changes committed when it started",
				describeWatch(req), watchEndTimeout, len(got), err)
		}
		t.Fatalf("%s: %v", describeWatch(req), err)
	}
	return got
}

// latest returns w's LatestChange or fails t.
func latest(t *testing.T, w state.Watcher) state.ChangeCursor {
	t.Helper()
	c, err := w.LatestChange(ctx(t))
	noErr(t, "LatestChange", err)
	return c
}

// stopAfter runs the watch req and stops iterating after k changes (k > 0),
// returning them; it fails t when the watch ends or fails before.
func stopAfter(t *testing.T, w state.Watcher, req state.WatchRequest, k int) []state.Change {
	t.Helper()
	c, cancel := context.WithTimeout(ctx(t), followTimeout)
	defer cancel()
	var got []state.Change
	for ch, err := range w.Watch(c, req) {
		if err != nil {
			t.Fatalf("%s: error after %d of %d changes: %v", describeWatch(req), len(got), k, err)
		}
		if got = append(got, ch); len(got) == k {
			return got
		}
	}
	t.Fatalf("%s: ended after %d changes, want at least %d", describeWatch(req), len(got), k)
	return nil
}

// describeWatch formats a request for failure messages.
func describeWatch(req state.WatchRequest) string {
	var parts []string
	if req.After == "" {
		parts = append(parts, "from the empty cursor")
	} else {
		parts = append(parts, fmt.Sprintf("after %.80q", req.After))
	}
	f := req.Filter
	if len(f.Kinds) > 0 {
		parts = append(parts, fmt.Sprintf("kinds %.200q", f.Kinds))
	}
	if len(f.Invocations) > 0 {
		parts = append(parts, fmt.Sprintf("invocations %.200q", f.Invocations))
	}
	if len(f.Tasks) > 0 {
		keys := make([]string, len(f.Tasks))
		for i, tk := range f.Tasks {
			keys[i] = tk.Key()
		}
		parts = append(parts, fmt.Sprintf("tasks %.200q", keys))
	}
	if f.WorkflowID != "" {
		parts = append(parts, fmt.Sprintf("workflow %q", f.WorkflowID))
	}
	if len(f.Statuses) > 0 {
		parts = append(parts, fmt.Sprintf("statuses %.200q", f.Statuses))
	}
	if req.Follow {
		parts = append(parts, "following")
	}
	if req.PollInterval != 0 {
		parts = append(parts, "poll interval "+req.PollInterval.String())
	}
	return "Watch(" + strings.Join(parts, ", ") + ")"
}

// describeChange formats a change, its cursor left out.
func describeChange(c state.Change) string {
	s := fmt.Sprintf("%s %q", c.Kind, c.InvocationID)
	if c.Kind == state.ChangeHistory || c.Status != "" || !c.Timestamp.IsZero() {
		s += fmt.Sprintf(" %s at %s", c.Status, c.Timestamp)
	}
	task := "-"
	if !c.Task.IsZero() {
		task = c.Task.Key()
	}
	return s + fmt.Sprintf(" [task %s, workflow %q]", task, c.WorkflowID)
}

// describeChanges formats changes one per line.
func describeChanges(cs []state.Change) string {
	if len(cs) == 0 {
		return "  (none)\n"
	}
	var sb strings.Builder
	for i, c := range cs {
		fmt.Fprintf(&sb, "  [%d] %s\n", i, describeChange(c))
	}
	return sb.String()
}

// sameChange reports whether got is want in every field but the cursor: a
// history record's timestamp the same instant, in UTC, and every other
// change's zero.
func sameChange(got, want state.Change) bool {
	ts := got.Timestamp.Equal(want.Timestamp) && got.Timestamp.IsZero() == want.Timestamp.IsZero()
	if !want.Timestamp.IsZero() {
		ts = ts && got.Timestamp.Location() == time.UTC
	}
	return got.Kind == want.Kind && got.InvocationID == want.InvocationID && got.Task == want.Task &&
		got.WorkflowID == want.WorkflowID && got.Status == want.Status && ts
}

// wantChanges fails t unless got holds exactly the changes of want, in
// order (see sameChange).
func wantChanges(t *testing.T, what string, got, want []state.Change) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameChange(got[i], want[i])
	}
	if !ok {
		t.Fatalf("%s: got %d changes, want %d\ngot:\n%swant:\n%s", what, len(got), len(want), describeChanges(got), describeChanges(want))
	}
}

// changeMatch is the brute force of a ChangeFilter, on the fields of a
// change as the unfiltered watch delivers it.
func changeMatch(f state.ChangeFilter, c state.Change) bool {
	return (len(f.Kinds) == 0 || slices.Contains(f.Kinds, c.Kind)) &&
		(len(f.Invocations) == 0 || slices.Contains(f.Invocations, c.InvocationID)) &&
		(len(f.Tasks) == 0 || (!c.Task.IsZero() && slices.Contains(f.Tasks, c.Task))) &&
		(f.WorkflowID == "" || c.WorkflowID == f.WorkflowID) &&
		(len(f.Statuses) == 0 || (c.Kind == state.ChangeHistory && slices.Contains(f.Statuses, c.Status)))
}

// filterChanges returns the changes of cs that f selects.
func filterChanges(f state.ChangeFilter, cs []state.Change) []state.Change {
	var out []state.Change
	for _, c := range cs {
		if changeMatch(f, c) {
			out = append(out, c)
		}
	}
	return out
}

// watchWorld writes through a backend and keeps what it wrote, to tell the
// changes a watch must deliver. Each test has an app of its own, so these
// are all the app's changes.
type watchWorld struct {
	t    *testing.T
	b    state.Backend
	invs map[state.InvocationID]state.Invocation
	runs map[state.InvocationID]state.WorkflowIdentity
	keys map[watchHistoryKey]bool // the history records written
	// calls holds the changes each write made, one slice per call, in the
	// order of the calls; the task and workflow are filled in by want.
	calls [][]state.Change
}

// watchHistoryKey is what identifies a history record: writing the same
// again replaces the record.
type watchHistoryKey struct {
	id     state.InvocationID
	micros int64
	status state.Status
}

func newWatchWorld(t *testing.T, b state.Backend) *watchWorld {
	return &watchWorld{t: t, b: b, invs: map[state.InvocationID]state.Invocation{},
		runs: map[state.InvocationID]state.WorkflowIdentity{}, keys: map[watchHistoryKey]bool{}}
}

func (w *watchWorld) upsert(invs ...state.Invocation) {
	w.t.Helper()
	mustUpsert(w.t, w.b, invs...)
	for _, inv := range invs {
		w.invs[inv.ID] = inv
	}
}

// add adds h to ids: one change per id whose record is new.
func (w *watchWorld) add(h state.InvocationHistory, ids ...state.InvocationID) {
	w.t.Helper()
	mustAddHistory(w.t, w.b, h, ids...)
	ts := h.Timestamp.UTC().Truncate(time.Microsecond)
	var call []state.Change
	for _, id := range ids {
		key := watchHistoryKey{id, state.ToMicros(ts), h.StatusRecord.Status}
		if w.keys[key] {
			continue // rewritten in place: no change
		}
		w.keys[key] = true
		call = append(call, state.Change{Kind: state.ChangeHistory, InvocationID: id, Status: h.StatusRecord.Status, Timestamp: ts})
	}
	w.made(call...)
}

func (w *watchWorld) result(id state.InvocationID) {
	w.t.Helper()
	noErr(w.t, fmt.Sprintf("SetResult(%q)", id), w.b.SetResult(ctx(w.t), id, []byte("result of "+id)))
	w.made(state.Change{Kind: state.ChangeResult, InvocationID: id})
}

func (w *watchWorld) exception(id state.InvocationID) {
	w.t.Helper()
	noErr(w.t, fmt.Sprintf("SetException(%q)", id), w.b.SetException(ctx(w.t), id, []byte("exception of "+id)))
	w.made(state.Change{Kind: state.ChangeException, InvocationID: id})
}

// run stores wf: a change the first time only.
func (w *watchWorld) run(wf state.WorkflowIdentity) {
	w.t.Helper()
	mustStoreRun(w.t, w.b, wf)
	if _, ok := w.runs[wf.WorkflowID]; !ok {
		w.made(state.Change{Kind: state.ChangeWorkflowRun, InvocationID: wf.WorkflowID})
	}
	w.runs[wf.WorkflowID] = wf
}

func (w *watchWorld) made(call ...state.Change) {
	if len(call) > 0 {
		w.calls = append(w.calls, call)
	}
}

// resolve fills in the task and workflow of c as stored now.
func (w *watchWorld) resolve(c state.Change) state.Change {
	if c.Kind == state.ChangeWorkflowRun {
		c.Task, c.WorkflowID = w.runs[c.InvocationID].WorkflowType, c.InvocationID
	} else if inv, ok := w.invs[c.InvocationID]; ok {
		c.Task, c.WorkflowID = inv.CallID.Task, inv.Workflow.WorkflowID
	}
	return c
}

// all returns every change written, in the order of the calls; the changes
// of one call (an AddHistory for several ids) in the order got has them,
// when got has them all.
func (w *watchWorld) all(got []state.Change) []state.Change {
	var out []state.Change
	for _, call := range w.calls {
		start := len(out)
		for _, c := range call {
			out = append(out, w.resolve(c))
		}
		// One call commits its changes at once, in an order of the
		// backend's choosing: take the order got has at that place.
		if mine := out[start:]; len(got) >= len(out) {
			order := got[start:len(out)]
			slices.SortStableFunc(mine, func(a, b state.Change) int {
				return cmp.Compare(slices.IndexFunc(order, func(c state.Change) bool { return sameChange(c, a) }),
					slices.IndexFunc(order, func(c state.Change) bool { return sameChange(c, b) }))
			})
		}
	}
	return out
}

// want fails t unless got holds exactly the changes written, in the order
// they were written.
func (w *watchWorld) want(what string, got []state.Change) {
	w.t.Helper()
	wantChanges(w.t, what, got, w.all(got))
}

// watchTop returns a top-level invocation of tk: it starts its own workflow.
func watchTop(id state.InvocationID, tk state.TaskID) state.Invocation {
	return invocationOf(id, tk, state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk}, "")
}

// watchAt returns the instant s seconds after baseTime.
func watchAt(s int) time.Time { return baseTime.Add(time.Duration(s) * time.Second) }

// resumeWorld writes a few invocations with changes of every kind.
func resumeWorld(t *testing.T, b state.Backend, prefix string, n int) *watchWorld {
	t.Helper()
	w := newWatchWorld(t, b)
	tk := task("watch_" + prefix)
	for i := range n {
		id := state.InvocationID(fmt.Sprintf("%s-%d", prefix, i))
		inv := watchTop(id, tk)
		w.upsert(inv)
		w.run(inv.Workflow)
	}
	statuses := []state.Status{state.StatusRegistered, state.StatusPending, state.StatusRunning}
	for step, s := range statuses {
		for i := range n {
			w.add(record(s, watchAt(10*i+step)), state.InvocationID(fmt.Sprintf("%s-%d", prefix, i)))
		}
	}
	for i := range n {
		id := state.InvocationID(fmt.Sprintf("%s-%d", prefix, i))
		if i%2 == 0 {
			w.add(record(state.StatusSuccess, watchAt(10*i+5)), id)
			w.result(id)
		} else {
			w.add(record(state.StatusFailed, watchAt(10*i+5)), id)
			w.exception(id)
		}
	}
	return w
}

// watchKey identifies a change of testWatchConcurrent: each invocation has
// at most one of each kind and status.
type watchKey struct {
	kind   state.ChangeKind
	id     state.InvocationID
	status state.Status
}

func watchKeyOf(c state.Change) watchKey { return watchKey{c.Kind, c.InvocationID, c.Status} }

// watchWriterSteps are the writes a writer makes for each of its
// invocations, in order; the changes they make are returned with each.
func watchWriterSteps(c context.Context, b state.Backend, inv state.Invocation, n int) (func() ([]watchKey, error), int) {
	final, payload := state.StatusSuccess, state.ChangeResult
	if n%2 == 1 {
		final, payload = state.StatusFailed, state.ChangeException
	}
	id := inv.ID
	hist := func(step int, s state.Status) func() ([]watchKey, error) {
		return func() ([]watchKey, error) {
			return []watchKey{{state.ChangeHistory, id, s}}, b.AddHistory(c, []state.InvocationID{id}, record(s, watchAt(n*10+step)))
		}
	}
	steps := []func() ([]watchKey, error){
		func() ([]watchKey, error) { return nil, b.UpsertInvocations(c, []state.Invocation{inv}) },
		func() ([]watchKey, error) {
			return []watchKey{{state.ChangeWorkflowRun, id, ""}}, b.StoreWorkflowRun(c, inv.Workflow)
		},
		hist(1, state.StatusRegistered),
		hist(2, state.StatusPending),
		func() ([]watchKey, error) { return nil, b.StoreWorkflowRun(c, inv.Workflow) }, // again: no change
		hist(3, state.StatusRunning),
		hist(4, final),
		func() ([]watchKey, error) {
			data := []byte("payload of " + id)
			if payload == state.ChangeResult {
				return []watchKey{{payload, id, ""}}, b.SetResult(c, id, data)
			}
			return []watchKey{{payload, id, ""}}, b.SetException(c, id, data)
		},
	}
	i := 0
	return func() ([]watchKey, error) {
		step := steps[i]
		i++
		return step()
	}, len(steps)
}

// watchCheckDelivered fails t unless got holds every change the writers
// wrote exactly once, nothing else, and each invocation's in the order
// written.
func watchCheckDelivered(t *testing.T, what string, got []state.Change, written [][]watchKey) {
	t.Helper()
	want := map[watchKey]bool{}
	order := map[state.InvocationID][]watchKey{}
	for _, keys := range written {
		for _, k := range keys {
			want[k] = true
			order[k.id] = append(order[k.id], k)
		}
	}
	count := map[watchKey]int{}
	gotOrder := map[state.InvocationID][]watchKey{}
	var problems []string
	for i, c := range got {
		k := watchKeyOf(c)
		if count[k]++; count[k] == 2 {
			problems = append(problems, fmt.Sprintf("[%d] %s delivered again", i, describeChange(c)))
		}
		if !want[k] {
			problems = append(problems, fmt.Sprintf("[%d] %s was never written", i, describeChange(c)))
		}
		gotOrder[k.id] = append(gotOrder[k.id], k)
	}
	for k := range want {
		if count[k] == 0 {
			problems = append(problems, fmt.Sprintf("%s %q %s never delivered", k.kind, k.id, k.status))
		}
	}
	if len(problems) == 0 {
		for id, keys := range order {
			if !slices.Equal(gotOrder[id], keys) {
				problems = append(problems, fmt.Sprintf("%q: delivered in the order %v, written %v", id, gotOrder[id], keys))
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		if len(problems) > 30 {
			problems = append(problems[:30], fmt.Sprintf("... and %d more", len(problems)-30))
		}
		t.Fatalf("%s (%d changes):\n  %s", what, len(got), strings.Join(problems, "\n  "))
	}
}

// describeMissing lists the changes written but not in got.
func describeMissing(got []state.Change, written [][]watchKey) string {
	have := map[watchKey]bool{}
	for _, c := range got {
		have[watchKeyOf(c)] = true
	}
	var sb strings.Builder
	for _, keys := range written {
		for _, k := range keys {
			if !have[k] {
				fmt.Fprintf(&sb, "  %s %q %s\n", k.kind, k.id, k.status)
			}
		}
	}
	return sb.String()
}
