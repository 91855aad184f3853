package conformance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// watchTests returns the tests of group "watch", for backends that
// implement state.Watcher; the others skip them, saying so. The tests write
// through the Backend and know, from what they wrote, which changes a
// watch must deliver: a history record added (not one rewritten in place),
// every result and exception stored, a workflow run stored for the first
// time.
func watchTests() []Test {
	tests := []Test{
		{Name: "every_kind_one_change", Run: testWatchKinds},
		{Name: "ends_at_call_start_latest_and_empty_cursor", Run: testWatchBounds},
		{Name: "resume_after_any_cursor", Run: testWatchResume},
		{Name: "concurrent_writers_follower_restarting", Run: testWatchConcurrent},
		{Name: "filters_match_brute_force", Run: testWatchFilters},
		{Name: "invalid_input", Run: testWatchInvalid},
		{Name: "follow_until_context_ends_and_early_break", Run: testWatchFollowCancel},
		{Name: "prune_expires_cursors", Run: testWatchRetention},
	}
	for i := range tests {
		tests[i].Group = "watch"
		run := tests[i].Run
		tests[i].Run = func(t *testing.T, h Harness) {
			if h.Features.NoWatch {
				t.Skip("the backend refuses watches on this database (Features.NoWatch)")
			}
			run(t, h)
		}
	}
	return tests
}

// watchEndTimeout bounds a watch without Follow: it ends once it has
// delivered what was committed when it started, which takes a few queries;
// one still running after this long is taken for one that never ends.
// It is generous: on Postgres and MySQL a watch waits for the transactions
// in flight on the whole server, other apps' included.
var watchEndTimeout = time.Minute

// followTimeout bounds the wait of a following watch for a change the test
// has committed.
var followTimeout = time.Minute

// watchPoll is the poll interval of the tests' following watches.
const watchPoll = 5 * time.Millisecond

// testWatchKinds checks that each kind of write makes one change with
// every field right, and that what is no change makes none.
func testWatchKinds(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	w := newWatchWorld(t, b)
	tkA, tkC, tkS := task("watch_kind_a"), task("watch_kind_c"), task("watch_kind_s")
	a := watchTop("kind-a", tkA)
	c := invocationOf("kind-c", tkC, a.Workflow, a.ID)
	s := invocationOf("kind-s", tkS, state.WorkflowIdentity{WorkflowID: "kind-s", WorkflowType: tkS, ParentWorkflowID: a.ID}, a.ID)
	w.upsert(a, c, s) // no change
	if got := collect(t, wt, state.WatchRequest{}); len(got) != 0 {
		t.Fatalf("after UpsertInvocations only, a watch delivered:\n%sUpsertInvocations makes no change", describeChanges(got))
	}

	w.run(a.Workflow)
	w.add(record(state.StatusRegistered, watchAt(1)), a.ID, c.ID) // one change per invocation
	w.add(record(state.StatusRunning, watchAt(2).Add(789*time.Nanosecond)), a.ID)
	w.run(s.Workflow) // a sub-workflow's run
	w.add(record(state.StatusRunning, watchAt(3)), s.ID)
	w.result(a.ID)
	w.exception(c.ID)
	w.result(a.ID) // replacing a result is a change too
	w.exception(c.ID)
	w.run(a.Workflow) // storing a run again is none
	// Writing the same (invocation, timestamp, status) again replaces the
	// record: no history record is added, so there is no change.
	again := record(state.StatusRegistered, watchAt(1))
	again.RunnerContextID, again.StatusRecord.RunnerID = "another-context", "another-runner"
	w.add(again, a.ID)
	w.add(record(state.StatusSuccess, watchAt(4)), c.ID, c.ID) // an id twice in one call: one record
	// Ids never upserted: their changes have no task and no workflow.
	w.add(record(state.StatusFailed, watchAt(5)), "kind-lone")
	w.result("kind-lone-result")
	w.want("watch from the empty cursor", collect(t, wt, state.WatchRequest{}))

	// The task and the workflow are those stored when the change is read.
	w.upsert(invocationOf("kind-lone", tkC, a.Workflow, a.ID))
	w.want("watch from the empty cursor, kind-lone upserted since its change", collect(t, wt, state.WatchRequest{}))
}

// testWatchBounds checks where a watch starts and, without Follow, ends.
func testWatchBounds(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	w := newWatchWorld(t, b)
	if lc := latest(t, wt); lc != "" {
		t.Fatalf("LatestChange of an app with no change = %q, want the empty cursor", lc)
	}
	if got := collect(t, wt, state.WatchRequest{}); len(got) != 0 {
		t.Fatalf("a watch of an app with no change delivered:\n%s", describeChanges(got))
	}
	tk := task("watch_bounds")
	for i := range 5 {
		id := state.InvocationID(fmt.Sprintf("bounds-%d", i))
		w.upsert(watchTop(id, tk))
		w.add(record(state.StatusRunning, watchAt(i)), id)
	}
	first := collect(t, wt, state.WatchRequest{})
	w.want("watch from the empty cursor", first)

	// Changes committed after the call started are not delivered by it.
	req := state.WatchRequest{}
	c, cancel := context.WithTimeout(ctx(t), watchEndTimeout)
	defer cancel()
	var got []state.Change
	for ch, err := range wt.Watch(c, req) {
		if err != nil {
			t.Fatalf("%s, writing while it runs: error after %d changes: %v", describeWatch(req), len(got), err)
		}
		if got = append(got, ch); len(got) > len(first) {
			t.Fatalf("%s delivered %s, committed after it started; a watch without Follow ends after the changes committed when it started:\n%s",
				describeWatch(req), describeChange(ch), describeChanges(got))
		}
		if len(got) == 1 {
			for i := range 3 {
				w.result(state.InvocationID(fmt.Sprintf("bounds-%d", i)))
			}
		}
	}
	wantChanges(t, "a watch without Follow, with changes committed while it ran", got, first)
	w.want("watch from the empty cursor", collect(t, wt, state.WatchRequest{}))
	second := collect(t, wt, state.WatchRequest{After: first[len(first)-1].Cursor})
	wantChanges(t, "watch after the last change of the first watch", second, w.all(nil)[len(first):])

	// A watch after LatestChange delivers only what commits later.
	lc := latest(t, wt)
	if lc == "" {
		t.Fatal("LatestChange of an app with changes is the empty cursor")
	}
	if got := collect(t, wt, state.WatchRequest{After: lc}); len(got) != 0 {
		t.Fatalf("watch after LatestChange, nothing written since, delivered:\n%s", describeChanges(got))
	}
	before := len(w.all(nil))
	w.add(record(state.StatusSuccess, watchAt(10)), "bounds-0")
	w.exception("bounds-1")
	all := w.all(nil)
	wantChanges(t, "watch after LatestChange, two changes written since", collect(t, wt, state.WatchRequest{After: lc}), all[before:])
	if lc2 := latest(t, wt); lc2 == lc {
		t.Fatalf("LatestChange = %q before and after two changes", lc)
	}
	// The empty cursor starts at the oldest change; the cursor of the
	// one before the newest leads to the newest only.
	everything := collect(t, wt, state.WatchRequest{})
	w.want("watch from the empty cursor", everything)
	wantChanges(t, "watch after the cursor of the change before the newest",
		collect(t, wt, state.WatchRequest{After: everything[len(everything)-2].Cursor}), all[len(all)-1:])
	if got := collect(t, wt, state.WatchRequest{After: latest(t, wt)}); len(got) != 0 {
		t.Fatalf("watch after LatestChange, nothing written since, delivered:\n%s", describeChanges(got))
	}
}

// testWatchResume stops a watch after each number of changes and resumes
// after the last one it delivered.
func testWatchResume(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	w := resumeWorld(t, b, "resume", 4)
	all := collect(t, wt, state.WatchRequest{})
	w.want("watch from the empty cursor", all)
	for k := 1; k <= len(all); k++ {
		// Odd k stop a following watch, even k one without Follow.
		req := state.WatchRequest{Follow: k%2 == 1, PollInterval: watchPoll}
		seen := stopAfter(t, wt, req, k)
		wantChanges(t, fmt.Sprintf("the first %d changes of %s", k, describeWatch(req)), seen, all[:k])
		rest := collect(t, wt, state.WatchRequest{After: seen[k-1].Cursor})
		wantChanges(t, fmt.Sprintf("watch resumed after the %d-th change", k), rest, all[k:])
	}
	// Resuming twice in a row from the same cursor gives the same changes.
	mid := all[len(all)/2].Cursor
	wantChanges(t, "watch resumed again from the same cursor", collect(t, wt, state.WatchRequest{After: mid}), all[len(all)/2+1:])
}

// Writers of testWatchConcurrent: each owns watchOwn invocations.
const (
	watchWriters = 8
	watchOwn     = 4
)

// testWatchConcurrent follows the changes of concurrent writers with a
// consumer that restarts from its last cursor at random points, and
// checks it got every change exactly once, each invocation's in the order
// they were written.
func testWatchConcurrent(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	c := ctx(t)
	tk := task("watch_concurrent")

	// What each writer wrote, in order, and the errors.
	written := make([][]watchKey, watchWriters)
	writeErrs := make([]error, watchWriters)
	writersCtx, writersDone := context.WithCancel(context.Background())
	defer writersDone()
	go func() {
		defer writersDone()
		done := make(chan struct{}, watchWriters)
		for g := range watchWriters {
			go func() {
				defer func() { done <- struct{}{} }()
				var next []func() ([]watchKey, error)
				var steps int
				for i := range watchOwn {
					id := state.InvocationID(fmt.Sprintf("cw%d-%d", g, i))
					step, n := watchWriterSteps(c, b, watchTop(id, tk), g*watchOwn+i)
					next, steps = append(next, step), n
				}
				// Step by step over the writer's invocations: each
				// invocation's writes in order, interleaved with the others'.
				for range steps {
					for _, step := range next {
						keys, err := step()
						if err != nil {
							writeErrs[g] = err
							return
						}
						written[g] = append(written[g], keys...)
					}
				}
			}()
		}
		for range watchWriters {
			<-done
		}
	}()

	seed := uint64(time.Now().UnixNano())
	t.Logf("consumer restarts seeded with %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var seen []state.Change
	var cursor state.ChangeCursor
	total := watchWriters * watchOwn * 6 // run, four records, a result or an exception
	restarts, checked := 0, false
	var deadline time.Time
	for len(seen) < total {
		if writersCtx.Err() != nil && !checked {
			// The writers are done: everything they wrote is committed.
			if err := errors.Join(writeErrs...); err != nil {
				t.Fatalf("writers failed: %v", err)
			}
			// A watch without Follow from the consumer's cursor delivers
			// the rest now; what it lacks, the consumer will never get.
			watchCheckDelivered(t, "the changes the follower got, then a watch without Follow after its cursor",
				append(slices.Clone(seen), collect(t, wt, state.WatchRequest{After: cursor})...), written)
			checked, deadline = true, time.Now().Add(followTimeout)
		}
		req := state.WatchRequest{After: cursor, Follow: true, PollInterval: watchPoll}
		var wc context.Context
		var cancel context.CancelFunc
		if checked {
			wc, cancel = context.WithDeadline(c, deadline)
		} else {
			wc, cancel = context.WithCancel(c)
		}
		stop := func() bool { return false }
		if !checked {
			// The writers' end stops the watch, to check what they wrote.
			stop = context.AfterFunc(writersCtx, cancel)
		}
		cancelled, stopped := false, false
		var ended error
		for ch, err := range wt.Watch(wc, req) {
			if ended != nil {
				t.Fatalf("%s: yielded (%s, %v) after the error %v: an error ends the sequence", describeWatch(req), describeChange(ch), err, ended)
			}
			if err != nil {
				ended = err
				switch {
				case checked && errors.Is(err, context.DeadlineExceeded):
					t.Fatalf("%s: %s after the writers finished, %d of %d changes delivered; the follower misses:\n%s",
						describeWatch(req), followTimeout, len(seen), total, describeMissing(seen, written))
				case !errors.Is(err, context.Canceled) || (!cancelled && writersCtx.Err() == nil):
					t.Fatalf("%s: %v", describeWatch(req), err)
				}
				continue
			}
			seen, cursor = append(seen, ch), ch.Cursor
			if len(seen) >= total {
				stopped = true
				break
			}
			if rng.IntN(16) == 0 {
				restarts++
				stopped = true
				break // a consumer stopped, to start again from its cursor
			}
			if !cancelled && rng.IntN(32) == 0 {
				restarts++
				cancelled = true
				cancel() // a consumer whose context ended
			}
		}
		stop()
		cancel()
		if !stopped && ended == nil {
			t.Fatalf("%s ended on its own, with no error, after %d changes in all: a following watch waits until its context ends", describeWatch(req), len(seen))
		}
	}
	t.Logf("%d changes delivered over %d restarts", len(seen), restarts)
	if !checked {
		<-writersCtx.Done()
		if err := errors.Join(writeErrs...); err != nil {
			t.Fatalf("writers failed: %v", err)
		}
	}
	watchCheckDelivered(t, "the changes the follower got", seen, written)
	if rest := collect(t, wt, state.WatchRequest{After: cursor}); len(rest) > 0 {
		t.Fatalf("watch after the follower's last cursor, writers done, delivered more:\n%s", describeChanges(rest))
	}
	all := collect(t, wt, state.WatchRequest{})
	wantChanges(t, "a watch from the empty cursor, against what the follower got", all, seen)
}

// testWatchFilters checks every filter field alone and combined against
// the brute force on the unfiltered watch, and resuming filtered watches.
func testWatchFilters(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	w := newWatchWorld(t, b)
	tkA, tkB, tkC, tkS := task("watch_filter_a"), task("watch_filter_b"), task("watch_filter_c"), task("watch_filter_s")
	a, bb := watchTop("f-a", tkA), watchTop("f-b", tkB)
	c1, c2 := invocationOf("f-c1", tkC, a.Workflow, a.ID), invocationOf("f-c2", tkC, a.Workflow, a.ID)
	s := invocationOf("f-s", tkS, state.WorkflowIdentity{WorkflowID: "f-s", WorkflowType: tkS, ParentWorkflowID: a.ID}, a.ID)
	s1 := invocationOf("f-s1", tkC, s.Workflow, s.ID)
	b1 := invocationOf("f-b1", tkC, bb.Workflow, bb.ID)
	w.upsert(a, bb, c1, c2, s, s1, b1)
	w.run(a.Workflow)
	w.run(bb.Workflow)
	w.add(record(state.StatusRegistered, watchAt(1)), a.ID, c1.ID, c2.ID, bb.ID)
	w.add(record(state.StatusRunning, watchAt(2)), a.ID, bb.ID)
	w.run(s.Workflow)
	w.add(record(state.StatusRunning, watchAt(3)), c1.ID, s.ID, s1.ID)
	w.add(record(state.StatusPending, watchAt(3)), c2.ID, b1.ID)
	w.add(record(state.StatusFailed, watchAt(4)), c1.ID)
	w.exception(c1.ID)
	w.add(record(state.StatusSuccess, watchAt(5)), s1.ID, s.ID)
	w.result(s1.ID)
	w.add(record(state.StatusRetry, watchAt(6)), b1.ID)
	w.add(record(state.StatusSuccess, watchAt(7)), "f-lone") // never upserted
	w.result("f-ghost")
	w.add(record(state.StatusSuccess, watchAt(8)), a.ID)
	w.result(a.ID)
	all := collect(t, wt, state.WatchRequest{})
	w.want("watch from the empty cursor", all)

	filters := []struct {
		name string
		f    state.ChangeFilter
	}{
		{"kind history", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeHistory}}},
		{"kinds result and exception", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeResult, state.ChangeException}}},
		{"kind workflow_run", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeWorkflowRun}}},
		{"one invocation", state.ChangeFilter{Invocations: []state.InvocationID{c1.ID}}},
		{"invocations, one unknown", state.ChangeFilter{Invocations: []state.InvocationID{s1.ID, "f-nobody", "f-lone", a.ID}}},
		{"a workflow run by its id", state.ChangeFilter{Invocations: []state.InvocationID{s.ID}}},
		{"one task", state.ChangeFilter{Tasks: []state.TaskID{tkC}}},
		{"two tasks, runs of those types too", state.ChangeFilter{Tasks: []state.TaskID{tkA, tkS}}},
		{"a task of nothing", state.ChangeFilter{Tasks: []state.TaskID{task("watch_filter_none")}}},
		{"workflow", state.ChangeFilter{WorkflowID: a.ID}},
		{"sub-workflow", state.ChangeFilter{WorkflowID: s.ID}},
		{"workflow of nothing", state.ChangeFilter{WorkflowID: "f-nobody"}},
		{"one status", state.ChangeFilter{Statuses: []state.Status{state.StatusRunning}}},
		{"final statuses", state.ChangeFilter{Statuses: []state.Status{state.StatusSuccess, state.StatusFailed}}},
		{"task, workflow and status", state.ChangeFilter{Tasks: []state.TaskID{tkC}, WorkflowID: a.ID, Statuses: []state.Status{state.StatusRunning, state.StatusRegistered}}},
		{"kinds and invocations", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeHistory, state.ChangeException}, Invocations: []state.InvocationID{c1.ID, b1.ID, a.ID}}},
		{"kind workflow_run and task", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeWorkflowRun}, Tasks: []state.TaskID{tkA, tkC}}},
		{"kind result with a status: nothing", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeResult}, Statuses: []state.Status{state.StatusSuccess}}},
		{"every field", state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeHistory}, Invocations: []state.InvocationID{s1.ID, c1.ID},
			Tasks: []state.TaskID{tkC}, WorkflowID: s.ID, Statuses: []state.Status{state.StatusSuccess, state.StatusRunning}}},
	}
	for _, tc := range filters {
		want := filterChanges(tc.f, all)
		req := state.WatchRequest{Filter: tc.f}
		got := collect(t, wt, req)
		wantChanges(t, tc.name+": "+describeWatch(req), got, want)
		// Resuming after a delivered change, with the same filter.
		for _, k := range []int{0, len(got) / 2, len(got) - 2} {
			if k < 0 || k >= len(got) {
				continue
			}
			req.After = got[k].Cursor
			wantChanges(t, fmt.Sprintf("%s: resumed after its change [%d]: %s", tc.name, k, describeWatch(req)),
				collect(t, wt, req), want[k+1:])
		}
		// Cursors are positions among all changes: a filtered watch
		// after the cursor of an unfiltered one starts right after it.
		for _, j := range []int{0, len(all) / 3, 2 * len(all) / 3} {
			req.After = all[j].Cursor
			wantChanges(t, fmt.Sprintf("%s: after the cursor of change [%d] of the unfiltered watch: %s", tc.name, j, describeWatch(req)),
				collect(t, wt, req), filterChanges(tc.f, all[j+1:]))
		}
	}

	// A following filtered watch passes over what the filter skips.
	lc := latest(t, wt)
	w.result(b1.ID)
	w.add(record(state.StatusRunning, watchAt(9)), b1.ID)
	w.add(record(state.StatusRetry, watchAt(10)), a.ID)
	req := state.WatchRequest{After: lc, Filter: state.ChangeFilter{Statuses: []state.Status{state.StatusRetry}}, Follow: true, PollInterval: watchPoll}
	got := stopAfter(t, wt, req, 1)
	want := state.Change{Kind: state.ChangeHistory, InvocationID: a.ID, Task: tkA, WorkflowID: a.ID, Status: state.StatusRetry, Timestamp: watchAt(10)}
	wantChanges(t, describeWatch(req), got, []state.Change{want})
}

// testWatchInvalid checks that bad requests fail with ErrInvalidArgument,
// as the first and only element, following or not.
func testWatchInvalid(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	all := resumeWorld(t, b, "invalid", 2).all(nil)
	valid := collect(t, wt, state.WatchRequest{})
	if len(valid) != len(all) {
		t.Fatalf("watch from the empty cursor delivered %d changes, want %d", len(valid), len(all))
	}
	const tooMany = 101
	kinds := make([]state.ChangeKind, tooMany)
	invs := make([]state.InvocationID, tooMany)
	tasks := make([]state.TaskID, tooMany)
	statuses := make([]state.Status, tooMany)
	for i := range tooMany {
		kinds[i] = state.ChangeHistory
		invs[i] = state.InvocationID(fmt.Sprintf("inv-%d", i))
		tasks[i] = task(fmt.Sprintf("t%d", i))
		statuses[i] = state.StatusRunning
	}
	badFilters := map[string]state.ChangeFilter{
		"unknown kind":                 {Kinds: []state.ChangeKind{state.ChangeHistory, "bogus"}},
		"empty kind":                   {Kinds: []state.ChangeKind{""}},
		"unknown status":               {Statuses: []state.Status{state.StatusRunning, "bogus"}},
		"empty status":                 {Statuses: []state.Status{""}},
		"empty invocation id":          {Invocations: []state.InvocationID{"inv-1", ""}},
		"invocation id with a NUL":     {Invocations: []state.InvocationID{"inv\x00"}},
		"invocation id not UTF-8":      {Invocations: []state.InvocationID{"inv\xff"}},
		"invocation id over 255 bytes": {Invocations: []state.InvocationID{state.InvocationID(strings.Repeat("i", state.MaxIDLen+1))}},
		"task without module":          {Tasks: []state.TaskID{{FuncName: "f"}}},
		"task with a dotted function":  {Tasks: []state.TaskID{{Module: "m", FuncName: "a.b"}}},
		"workflow id not UTF-8":        {WorkflowID: "wf\xff"},
		"workflow id over 255 bytes":   {WorkflowID: state.InvocationID(strings.Repeat("w", state.MaxIDLen+1))},
		"101 kinds":                    {Kinds: kinds},
		"101 invocations":              {Invocations: invs},
		"101 tasks":                    {Tasks: tasks},
		"101 statuses":                 {Statuses: statuses},
	}
	var bad []struct {
		name string
		req  state.WatchRequest
	}
	add := func(name string, req state.WatchRequest) {
		bad = append(bad, struct {
			name string
			req  state.WatchRequest
		}{name, req})
	}
	for name, f := range badFilters {
		add(name, state.WatchRequest{Filter: f})
		add(name+", after a valid cursor", state.WatchRequest{Filter: f, After: valid[0].Cursor})
	}
	for name, p := range map[string]time.Duration{
		"poll interval below MinPollInterval": state.MinPollInterval - time.Nanosecond,
		"negative poll interval":              -time.Second,
		"poll interval over MaxPollInterval":  state.MaxPollInterval + time.Nanosecond,
	} {
		add(name, state.WatchRequest{PollInterval: p})
	}
	// Cursors no backend makes: the backend that did not make them must
	// say so rather than start anywhere.
	for name, cur := range map[string]state.ChangeCursor{
		"cursor \"nonsense\"":                   "nonsense",
		"one-byte cursor":                       "x",
		"malformed cursor":                      "%%% not a cursor %%%",
		"cursor not UTF-8":                      "\xff\xfe",
		"cursor over 1024 bytes":                state.ChangeCursor(strings.Repeat("7", 1025)),
		"a valid cursor padded over 1024 bytes": valid[0].Cursor + state.ChangeCursor(strings.Repeat("0", 1025)),
	} {
		add(name, state.WatchRequest{After: cur})
	}
	for _, bc := range bad {
		for _, follow := range []bool{false, true} {
			req := bc.req
			req.Follow, req.PollInterval = follow, cmp.Or(req.PollInterval, watchPoll)
			c, cancel := context.WithTimeout(ctx(t), watchEndTimeout)
			got, err := watchAll(t, c, wt, req)
			cancel()
			if len(got) > 0 {
				t.Fatalf("%s: %s delivered %d changes before its error %v; bad input fails as the first element:\n%s",
					bc.name, describeWatch(req), len(got), err, describeChanges(got))
			}
			wantInvalid(t, fmt.Sprintf("%s: %s", bc.name, describeWatch(req)), err)
		}
	}
	// Valid requests at the limits.
	for _, req := range []state.WatchRequest{
		{Filter: state.ChangeFilter{Kinds: kinds[:100], Invocations: invs[:100], Tasks: tasks[:100], Statuses: statuses[:100]}},
		{PollInterval: state.MinPollInterval},
		{PollInterval: state.MaxPollInterval},
	} {
		collect(t, wt, req)
	}
}

// testWatchFollowCancel checks that a following watch delivers what
// commits while it waits and ends with its context's error, once; and that
// watches stopped early hold nothing back.
func testWatchFollowCancel(t *testing.T, h Harness) {
	appID := NewAppID()
	b := h.Open(t, appID)
	wt := watcher(t, b)
	w := newWatchWorld(t, b)
	tk := task("watch_follow")
	for i := range 3 {
		id := state.InvocationID(fmt.Sprintf("follow-%d", i))
		w.upsert(watchTop(id, tk))
		w.add(record(state.StatusRunning, watchAt(i)), id)
	}

	// Following: what exists, then what commits meanwhile, then the
	// context's error once.
	req := state.WatchRequest{Follow: true, PollInterval: watchPoll}
	guard, stop := context.WithTimeout(ctx(t), followTimeout)
	defer stop()
	c, cancel := context.WithCancel(guard)
	defer cancel()
	var got []state.Change
	var end error
	cursors := map[state.ChangeCursor]bool{}
	for ch, err := range wt.Watch(c, req) {
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
		switch got = append(got, ch); len(got) {
		case 3: // caught up: the next changes commit while it follows
			w.result("follow-0")
			w.add(record(state.StatusSuccess, watchAt(5)), "follow-1")
		case 5:
			cancel()
		}
	}
	if guard.Err() != nil {
		t.Fatalf("%s: %d changes delivered in %s, want 5 (3 written before it started, 2 while it followed):\n%s",
			describeWatch(req), len(got), followTimeout, describeChanges(got))
	}
	w.want(describeWatch(req)+", cancelled after the 5th change", got)
	wantErr(t, describeWatch(req)+", cancelled after the 5th change", end, context.Canceled)

	// A deadline ends it too, after what it could deliver.
	dc, dcancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	got, err := watchAll(t, dc, wt, req)
	dcancel()
	wantErr(t, describeWatch(req)+" with a deadline", err, context.DeadlineExceeded)
	if all := w.all(nil); len(got) > len(all) {
		t.Fatalf("%s with a deadline delivered %d changes, %d exist", describeWatch(req), len(got), len(all))
	} else {
		wantChanges(t, describeWatch(req)+" with a deadline", got, all[:len(got)])
	}

	// A context already done: its error, first and only.
	done, dcancel := context.WithCancel(ctx(t))
	dcancel()
	for _, follow := range []bool{false, true} {
		req := state.WatchRequest{Follow: follow}
		got, err := watchAll(t, done, wt, req)
		if len(got) > 0 {
			t.Fatalf("%s with a cancelled context delivered:\n%s", describeWatch(req), describeChanges(got))
		}
		wantErr(t, describeWatch(req)+" with a cancelled context", err, context.Canceled)
	}
	_, err = wt.LatestChange(done)
	wantErr(t, "LatestChange with a cancelled context", err, context.Canceled)

	// Watches stopped early, following or not, filtered or not, release
	// what they hold: enough of them to exhaust a pool of connections
	// or listeners if they did not.
	all := collect(t, wt, state.WatchRequest{})
	for i := range 20 {
		req := state.WatchRequest{Follow: i%2 == 0, PollInterval: watchPoll}
		if i%4 >= 2 {
			req.After, req.Filter = all[0].Cursor, state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeHistory}}
		}
		stopAfter(t, wt, req, 1)
	}
	w.exception("follow-2")
	w.want("watch from the empty cursor after 20 watches stopped early", collect(t, wt, state.WatchRequest{}))
	wantChanges(t, "watch after the last change before the 20 stopped early", collect(t, wt, state.WatchRequest{After: all[len(all)-1].Cursor}),
		[]state.Change{{Kind: state.ChangeException, InvocationID: "follow-2", Task: tk, WorkflowID: "follow-2"}})
	if rest := stopAfter(t, wt, state.WatchRequest{After: all[len(all)-1].Cursor, Follow: true, PollInterval: watchPoll}, 1); rest[0].InvocationID != "follow-2" {
		t.Fatalf("following watch after 20 stopped early: got %s, want the exception of follow-2", describeChange(rest[0]))
	}

	// A closed backend: ErrClosed, first and only.
	closed := h.Open(t, appID)
	cw := watcher(t, closed)
	noErr(t, "Close", closed.Close())
	for _, follow := range []bool{false, true} {
		req := state.WatchRequest{Follow: follow}
		c, cancel := context.WithTimeout(ctx(t), watchEndTimeout)
		got, err := watchAll(t, c, cw, req)
		cancel()
		if len(got) > 0 {
			t.Fatalf("%s on a closed backend delivered:\n%s", describeWatch(req), describeChanges(got))
		}
		wantErr(t, describeWatch(req)+" on a closed backend", err, state.ErrClosed)
	}
	_, err = cw.LatestChange(ctx(t))
	wantErr(t, "LatestChange on a closed backend", err, state.ErrClosed)
}

// Retention of testWatchRetention: changes older than watchRetention are
// pruned; the test waits watchPruneMargin after its last write, so that
// they are, by the database's clock too.
const (
	watchRetention   = 50 * time.Millisecond
	watchPruneMargin = 200 * time.Millisecond
)

// testWatchRetention checks that a prune that deletes changes expires the
// cursors before them, and only those.
func testWatchRetention(t *testing.T, h Harness) {
	b := open(t, h)
	wt := watcher(t, b)
	p, ok := b.(state.Pruner)
	if !ok {
		t.Skipf("watch: %T does not implement state.Pruner: no retention to expire cursors", b)
	}
	w := newWatchWorld(t, b)
	tk := task("watch_retention")
	for i := range 3 {
		id := state.InvocationID(fmt.Sprintf("ret-%d", i))
		inv := watchTop(id, tk)
		w.upsert(inv)
		w.run(inv.Workflow)
		w.add(record(state.StatusRegistered, oldTime.Add(time.Duration(i)*time.Second)), id)
		w.add(record(state.StatusSuccess, oldTime.Add(time.Duration(i)*time.Second+time.Millisecond)), id)
		w.result(id)
	}
	lastWrite := time.Now()
	all := collect(t, wt, state.WatchRequest{})
	w.want("watch from the empty cursor", all)
	// Wait, by the clock, until every change is older than the retention.
	for time.Since(lastWrite) < watchPruneMargin {
		time.Sleep(watchPoll)
	}
	_, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: watchRetention})
	noErr(t, "Prune", err)

	// The changes after these cursors are gone: a watch from them cannot
	// deliver every change after them.
	for _, k := range []int{0, len(all) / 2, len(all) - 2} {
		for _, follow := range []bool{false, true} {
			req := state.WatchRequest{After: all[k].Cursor, Follow: follow, PollInterval: watchPoll}
			c, cancel := context.WithTimeout(ctx(t), watchEndTimeout)
			got, err := watchAll(t, c, wt, req)
			cancel()
			if len(got) > 0 {
				t.Fatalf("%s, the cursor of change [%d] of %d, pruned: delivered\n%sbefore its error %v",
					describeWatch(req), k, len(all), describeChanges(got), err)
			}
			wantErr(t, fmt.Sprintf("%s, the cursor of change [%d] of %d, all pruned", describeWatch(req), k, len(all)), err, state.ErrCursorExpired)
		}
	}
	// The cursor of the newest change: nothing after it was deleted, so a
	// consumer that had caught up goes on.
	if got := collect(t, wt, state.WatchRequest{After: all[len(all)-1].Cursor}); len(got) > 0 {
		t.Fatalf("watch after the newest change, nothing written since, delivered:\n%s", describeChanges(got))
	}
	// The empty cursor is the oldest change kept: never expired.
	collect(t, wt, state.WatchRequest{})
	lc := latest(t, wt)
	if got := collect(t, wt, state.WatchRequest{After: lc}); len(got) > 0 {
		t.Fatalf("watch after LatestChange, after a prune, nothing written since, delivered:\n%s", describeChanges(got))
	}
	w.result("ret-late")
	wantChanges(t, "watch after LatestChange, after a prune, one change written since",
		collect(t, wt, state.WatchRequest{After: lc}), []state.Change{{Kind: state.ChangeResult, InvocationID: "ret-late"}})
	wantChanges(t, "watch after the newest pruned change, one change written since",
		collect(t, wt, state.WatchRequest{After: all[len(all)-1].Cursor}), []state.Change{{Kind: state.ChangeResult, InvocationID: "ret-late"}})
}
