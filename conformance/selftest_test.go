package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/state"
)

// The suite must be able to fail. TestBrokenBackends runs it against
// backends broken on purpose: each wraps the (correct) memory backend and
// breaks one promise. A variant is caught when the suite run against it
// exits non-zero AND reports a failing test of the group that owns the
// promise; a crash, a build failure or a timeout does not count.
//
// Each variant runs in a child process, this test binary re-executed with
// -test.run '^TestBrokenBackendChild$' and the variant's name in
// brokenVariantEnv, so the suite's verdict is an ordinary test result to
// read. The control variant "none" wraps without breaking anything and must
// pass, which shows the failures come from the breakage.

// brokenVariantEnv names the variant a child process runs the suite against.
const brokenVariantEnv = "STATEBACKEND_BROKEN_VARIANT"

// brokenVariant is a backend broken in one way.
type brokenVariant struct {
	name  string
	group string // the group that must catch it; "" for the control
	wrap  func(b wrapped) state.Backend
}

// brokenVariants returns every variant, the control first.
func brokenVariants() []brokenVariant {
	return []brokenVariant{
		{"none", "", func(b wrapped) state.Backend { return b }},

		{"arguments_empty_as_nil", "invocations", func(b wrapped) state.Backend { return nilArguments{b} }},
		{"upsert_first_wins", "invocations", func(b wrapped) state.Backend { return firstWriteWins{b} }},
		{"ids_by_workflow_ignore_type", "invocations", func(b wrapped) state.Backend { return typeFilterIgnored{b} }},
		{"children_unsorted", "invocations", func(b wrapped) state.Backend { return reversedChildren{b} }},

		{"history_reversed", "history", func(b wrapped) state.Backend { return reversedHistory{b} }},
		{"history_ties_reversed", "history", func(b wrapped) state.Backend { return reversedTies{b} }},
		{"history_millis", "history", func(b wrapped) state.Backend { return millisHistory{b} }},
		{"history_local_zone", "history", func(b wrapped) state.Backend { return localZoneHistory{b} }},

		{"range_exclusive_end", "timerange", func(b wrapped) state.Backend { return shiftedRange{b, 0, -time.Microsecond} }},
		{"range_exclusive_start", "timerange", func(b wrapped) state.Backend { return shiftedRange{b, time.Microsecond, 0} }},
		{"ids_iterator_repeats", "timerange", func(b wrapped) state.Backend { return repeatingIDs{b} }},
		{"history_iterator_skips", "timerange", func(b wrapped) state.Backend { return skippingHistory{b} }},
		{"history_offset_pagination", "timerange", func(b wrapped) state.Backend { return offsetHistory{b} }},

		{"result_missing_nil_error", "payloads", func(b wrapped) state.Backend { return nilForMissingResult{b} }},
		{"result_aliases_caller", "payloads", func(b wrapped) state.Backend { return aliasedResults{b} }},

		{"sub_invocations_list", "workflows", func(b wrapped) state.Backend { return subInvocationList{b} }},
		{"workflow_runs_unsorted", "workflows", func(b wrapped) state.Backend { return reversedRuns{b} }},

		{"match_underscore_wildcard", "runners", func(b wrapped) state.Backend { return likeMatch{b} }},
		{"match_ignore_case", "runners", func(b wrapped) state.Backend { return foldedMatch{b} }},
		{"runner_parent_dropped", "runners", func(b wrapped) state.Backend { return orphanRunner{b} }},

		{"discover_own_app_only", "appinfo", func(b wrapped) state.Backend { return ownAppDiscovery{b} }},

		{"purge_keeps_runners", "purge", func(b wrapped) state.Backend { return purgeKeepsRunners{b} }},

		{"purge_other_apps", "isolation", func(b wrapped) state.Backend { return leakyPurge{b} }},

		{"upsert_not_atomic", "validation", func(b wrapped) state.Backend { return oneByOneUpsert{b} }},
		{"zero_timestamp_defaulted", "validation", func(b wrapped) state.Backend { return defaultedTimestamp{b} }},

		{"close_is_noop", "lifecycle", func(b wrapped) state.Backend { return unclosable{b} }},
		{"upsert_ignores_cancel", "lifecycle", func(b wrapped) state.Backend { return uncancellableUpsert{b} }},
		{"iterator_ignores_cancel", "lifecycle", func(b wrapped) state.Backend { return uncancellableIterator{b} }},

		{"busy_under_contention", "concurrency", func(b wrapped) state.Backend { return busyWriter{b} }},
	}
}

// TestBrokenBackends checks that the suite catches every broken variant,
// each in the group that owns the broken promise.
func TestBrokenBackends(t *testing.T) {
	if os.Getenv(brokenVariantEnv) != "" {
		t.Skip("this is a child process of TestBrokenBackends")
	}
	for _, v := range brokenVariants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			out, code := runChild(t, v.name)
			if !bytes.Contains(out, []byte(childMarker(v.name))) {
				t.Fatalf("child (exit %d) never ran the suite against %q:\n%s", code, v.name, out)
			}
			if v.group == "" {
				if code != 0 {
					t.Fatalf("the suite fails the unbroken wrapper (exit %d):\n%s", code, failures(out))
				}
				return
			}
			if code == 0 {
				t.Fatalf("the suite passed a backend broken as %q", v.name)
			}
			if crash := crashLine(out); crash != "" {
				t.Fatalf("the suite crashed instead of failing (%s):\n%s", crash, failures(out))
			}
			caught := failingTests(out, v.group)
			if len(caught) == 0 {
				t.Fatalf("child exited %d without a failing test in group %q:\n%s", code, v.group, failures(out))
			}
			t.Logf("%s: caught by %s", v.name, strings.Join(caught, ", "))
		})
	}
}

// runChild runs the suite against variant in a child process and returns
// its output and exit code.
func runChild(t *testing.T, variant string) (out []byte, code int) {
	t.Helper()
	args := []string{"-test.run=^TestBrokenBackendChild$", "-test.count=1", "-test.timeout=5m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), brokenVariantEnv+"="+variant)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	default:
		t.Fatalf("run child for %q: %v", variant, err)
		return nil, 0
	}
}

// failingTests returns the names of the failed tests of group in a child's
// output: the "--- FAIL:" lines (indented for subtests) of tests under
// TestBrokenBackendChild/<group>/.
func failingTests(out []byte, group string) []string {
	prefix := "TestBrokenBackendChild/" + group + "/"
	var names []string
	for line := range strings.Lines(string(out)) {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: ")
		if ok && strings.HasPrefix(name, prefix) {
			name, _, _ = strings.Cut(name, " ")
			names = append(names, strings.TrimPrefix(name, "TestBrokenBackendChild/"))
		}
	}
	return names
}

// crashLine returns the line reporting a panic, a fatal runtime error or a
// timeout in a child's output, or "".
func crashLine(out []byte) string {
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// failures returns the lines of a child's output worth showing: failures,
// panics and the final verdict; the whole output when there are none.
func failures(out []byte) string {
	var keep []string
	for line := range strings.Lines(string(out)) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--- FAIL") || strings.HasPrefix(trimmed, "panic:") ||
			strings.Contains(trimmed, ".go:") || trimmed == "FAIL" {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return string(out)
	}
	return strings.Join(keep, "")
}

// childMarker is the line a child prints when it starts the suite, which
// tells a suite that failed from a child that never got to run it.
func childMarker(variant string) string {
	return "selftest: running the suite against the broken variant " + variant
}

// TestBrokenBackendChild runs the suite against the variant named in
// brokenVariantEnv; it runs only as a child of TestBrokenBackends.
func TestBrokenBackendChild(t *testing.T) {
	name := os.Getenv(brokenVariantEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestBrokenBackends")
	}
	i := slices.IndexFunc(brokenVariants(), func(v brokenVariant) bool { return v.name == name })
	if i < 0 {
		t.Fatalf("no broken variant %q", name)
	}
	v := brokenVariants()[i]
	fmt.Println(childMarker(v.name))
	store := memorybackend.NewStore()
	sh := &childState{opened: map[testing.TB][]state.Backend{}}
	conformance.Run(t, conformance.Harness{
		Open: func(t testing.TB, appID string) state.Backend {
			b := store.Open(appID)
			t.Cleanup(func() { _ = b.Close() })
			sh.register(t, b)
			return v.wrap(wrapped{Backend: b, appID: appID, t: t, shared: sh})
		},
	})
}

// wrapped is a correct backend as a variant receives it, with what the
// variant needs to break a promise that spans calls or backends.
type wrapped struct {
	state.Backend
	appID  string
	t      testing.TB // the conformance test that opened the backend
	shared *childState
}

// childState is the state the backends of one child process share, as the
// backends of one store share their data.
type childState struct {
	mu      sync.Mutex
	opened  map[testing.TB][]state.Backend // the correct backends each test opened
	subs    map[string][]state.InvocationID
	results map[string][]byte
	writing map[string]*atomic.Int32 // writes in flight, by app id
}

func (s *childState) register(t testing.TB, b state.Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened[t] = append(s.opened[t], b)
}

// key addresses a value of one app in a shared map.
func (b wrapped) key(id state.InvocationID) string { return b.appID + "\x00" + string(id) }

// forgetApp deletes the entries of b's app from m; the caller holds
// b.shared.mu.
func forgetApp[V any](b wrapped, m map[string]V) {
	for k := range m {
		if strings.HasPrefix(k, b.appID+"\x00") {
			delete(m, k)
		}
	}
}

// nilArguments reads an invocation without arguments back with a nil map.
type nilArguments struct{ wrapped }

func (b nilArguments) Invocation(ctx context.Context, id state.InvocationID) (state.Invocation, error) {
	inv, err := b.Backend.Invocation(ctx, id)
	if len(inv.Arguments) == 0 {
		inv.Arguments = nil
	}
	return inv, err
}

func (b nilArguments) Invocations(ctx context.Context, ids []state.InvocationID) (map[state.InvocationID]state.Invocation, error) {
	invs, err := b.Backend.Invocations(ctx, ids)
	for id, inv := range invs {
		if len(inv.Arguments) == 0 {
			inv.Arguments = nil
			invs[id] = inv
		}
	}
	return invs, err
}

// firstWriteWins keeps the first write of an invocation: existing ids, and
// later repeats of an id within a batch, are skipped.
type firstWriteWins struct{ wrapped }

func (b firstWriteWins) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	ids := make([]state.InvocationID, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
	}
	existing, err := b.Backend.Invocations(ctx, ids)
	if err != nil { // invalid ids: let the real upsert report them
		return b.Backend.UpsertInvocations(ctx, invs)
	}
	var fresh []state.Invocation
	for _, inv := range invs {
		if _, ok := existing[inv.ID]; !ok {
			existing[inv.ID] = inv
			fresh = append(fresh, inv)
		}
	}
	return b.Backend.UpsertInvocations(ctx, fresh)
}

// typeFilterIgnored ignores the workflow type of a filter.
type typeFilterIgnored struct{ wrapped }

func (b typeFilterIgnored) InvocationIDsByWorkflow(ctx context.Context, f state.WorkflowFilter) ([]state.InvocationID, error) {
	if err := f.Validate("filter"); err == nil {
		f.WorkflowType = state.TaskID{}
	}
	return b.Backend.InvocationIDsByWorkflow(ctx, f)
}

// reversedChildren returns child invocation ids in descending order.
type reversedChildren struct{ wrapped }

func (b reversedChildren) ChildInvocations(ctx context.Context, parent state.InvocationID) ([]state.InvocationID, error) {
	ids, err := b.Backend.ChildInvocations(ctx, parent)
	slices.Reverse(ids)
	return ids, err
}

// reversedHistory returns history newest first.
type reversedHistory struct{ wrapped }

func (b reversedHistory) History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error) {
	hs, err := b.Backend.History(ctx, id)
	slices.Reverse(hs)
	return hs, err
}

// reversedTies orders history by timestamp but equal timestamps newest
// first.
type reversedTies struct{ wrapped }

func (b reversedTies) History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error) {
	hs, err := b.Backend.History(ctx, id)
	slices.Reverse(hs)
	slices.SortStableFunc(hs, func(x, y state.InvocationHistory) int { return x.Timestamp.Compare(y.Timestamp) })
	return hs, err
}

// millisHistory keeps history timestamps to the millisecond only.
type millisHistory struct{ wrapped }

func (b millisHistory) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	h.Timestamp = h.Timestamp.Truncate(time.Millisecond)
	h.StatusRecord.Timestamp = h.StatusRecord.Timestamp.Truncate(time.Millisecond)
	return b.Backend.AddHistory(ctx, ids, h)
}

// localZoneHistory returns history timestamps in another zone (the same
// instants).
type localZoneHistory struct{ wrapped }

func (b localZoneHistory) History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error) {
	hs, err := b.Backend.History(ctx, id)
	zone := time.FixedZone("UTC+1", 3600)
	for i := range hs {
		hs[i].Timestamp = hs[i].Timestamp.In(zone)
		hs[i].StatusRecord.Timestamp = hs[i].StatusRecord.Timestamp.In(zone)
	}
	return hs, err
}

// shiftedRange moves the bounds of both time-range iterators inward, making
// a bound exclusive.
type shiftedRange struct {
	wrapped
	startBy, endBy time.Duration
}

func (b shiftedRange) HistoryInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationHistory, error] {
	s, e, ok := b.shift(start, end, n)
	if !ok {
		return func(func([]state.InvocationHistory, error) bool) {}
	}
	return b.Backend.HistoryInTimeRange(ctx, s, e, n)
}

func (b shiftedRange) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationID, error] {
	s, e, ok := b.shift(start, end, n)
	if !ok {
		return func(func([]state.InvocationID, error) bool) {}
	}
	return b.Backend.InvocationIDsInTimeRange(ctx, s, e, n)
}

// shift returns the shifted bounds; ok is false when they select nothing.
// Invalid arguments are passed through unchanged, for the real method to
// refuse.
func (b shiftedRange) shift(start, end time.Time, n int) (s, e time.Time, ok bool) {
	if state.ValidateTimeRange(start, end, n) != nil {
		return start, end, true
	}
	s, e = start.Add(b.startBy), end.Add(b.endBy)
	return s, e, !s.After(e)
}

// repeatingIDs starts every batch of invocation ids after the first with
// the last id of the batch before.
type repeatingIDs struct{ wrapped }

func (b repeatingIDs) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationID, error] {
	return func(yield func([]state.InvocationID, error) bool) {
		var last []state.InvocationID
		for batch, err := range b.Backend.InvocationIDsInTimeRange(ctx, start, end, n) {
			if err == nil && len(batch) > 0 {
				next := batch[len(batch)-1]
				batch = append(last, batch...)
				last = []state.InvocationID{next}
			}
			if !yield(batch, err) {
				return
			}
		}
	}
}

// skippingHistory drops the first record of every history batch after the
// first, as an off-by-one cursor would.
type skippingHistory struct{ wrapped }

func (b skippingHistory) HistoryInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationHistory, error] {
	return func(yield func([]state.InvocationHistory, error) bool) {
		first := true
		for batch, err := range b.Backend.HistoryInTimeRange(ctx, start, end, n) {
			if err == nil && !first && len(batch) > 0 {
				batch = batch[1:]
			}
			first = false
			if !yield(batch, err) {
				return
			}
		}
	}
}

// offsetHistory pages the history time range by offset, re-reading the
// whole range for every batch: records inserted before the current position
// shift the pages.
type offsetHistory struct{ wrapped }

func (b offsetHistory) HistoryInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationHistory, error] {
	return func(yield func([]state.InvocationHistory, error) bool) {
		for offset := 0; ; offset += n {
			var all []state.InvocationHistory
			for batch, err := range b.Backend.HistoryInTimeRange(ctx, start, end, n) {
				if err != nil {
					yield(nil, err)
					return
				}
				all = append(all, batch...)
			}
			if offset >= len(all) {
				return
			}
			page := all[offset:min(offset+n, len(all))]
			if !yield(page, nil) || len(page) < n {
				return
			}
		}
	}
}

// nilForMissingResult returns no result and no error for a missing one.
type nilForMissingResult struct{ wrapped }

func (b nilForMissingResult) Result(ctx context.Context, id state.InvocationID) ([]byte, error) {
	data, err := b.Backend.Result(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return data, err
}

// aliasedResults keeps the caller's result buffer and returns it as is.
type aliasedResults struct{ wrapped }

func (b aliasedResults) SetResult(ctx context.Context, id state.InvocationID, data []byte) error {
	if err := b.Backend.SetResult(ctx, id, data); err != nil {
		return err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	if b.shared.results == nil {
		b.shared.results = map[string][]byte{}
	}
	b.shared.results[b.key(id)] = data
	return nil
}

func (b aliasedResults) Result(ctx context.Context, id state.InvocationID) ([]byte, error) {
	data, err := b.Backend.Result(ctx, id)
	if err != nil {
		return nil, err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	if kept, ok := b.shared.results[b.key(id)]; ok {
		return kept, nil
	}
	return data, nil
}

func (b aliasedResults) Purge(ctx context.Context) error {
	b.shared.mu.Lock()
	forgetApp(b.wrapped, b.shared.results)
	b.shared.mu.Unlock()
	return b.Backend.Purge(ctx)
}

// subInvocationList keeps sub-invocations as a list: storing one twice
// lists it twice.
type subInvocationList struct{ wrapped }

func (b subInvocationList) StoreWorkflowSubInvocation(ctx context.Context, wf, sub state.InvocationID) error {
	if err := b.Backend.StoreWorkflowSubInvocation(ctx, wf, sub); err != nil {
		return err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	if b.shared.subs == nil {
		b.shared.subs = map[string][]state.InvocationID{}
	}
	b.shared.subs[b.key(wf)] = append(b.shared.subs[b.key(wf)], sub)
	return nil
}

func (b subInvocationList) WorkflowSubInvocations(ctx context.Context, wf state.InvocationID) ([]state.InvocationID, error) {
	if _, err := b.Backend.WorkflowSubInvocations(ctx, wf); err != nil {
		return nil, err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	subs := slices.Clone(b.shared.subs[b.key(wf)])
	slices.Sort(subs)
	return subs, nil
}

func (b subInvocationList) Purge(ctx context.Context) error {
	b.shared.mu.Lock()
	forgetApp(b.wrapped, b.shared.subs)
	b.shared.mu.Unlock()
	return b.Backend.Purge(ctx)
}

// reversedRuns returns workflow runs in descending id order.
type reversedRuns struct{ wrapped }

func (b reversedRuns) WorkflowRuns(ctx context.Context) ([]state.WorkflowIdentity, error) {
	runs, err := b.Backend.WorkflowRuns(ctx)
	slices.Reverse(runs)
	return runs, err
}

// likeMatch matches runner ids as an unescaped SQL LIKE '%substring%'
// would: '_' matches any character and '%' any run of them.
type likeMatch struct{ wrapped }

func (b likeMatch) MatchRunnerContexts(ctx context.Context, substring string) ([]state.RunnerContext, error) {
	var pattern strings.Builder
	for _, r := range substring {
		switch r {
		case '_':
			pattern.WriteString(".")
		case '%':
			pattern.WriteString(".*")
		default:
			pattern.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re, err := regexp.Compile("(?s)" + pattern.String())
	if err != nil {
		return nil, err
	}
	return b.filterRunners(ctx, substring, re.MatchString)
}

// foldedMatch matches runner ids ignoring case.
type foldedMatch struct{ wrapped }

func (b foldedMatch) MatchRunnerContexts(ctx context.Context, substring string) ([]state.RunnerContext, error) {
	return b.filterRunners(ctx, substring, func(id string) bool {
		return strings.Contains(strings.ToLower(id), strings.ToLower(substring))
	})
}

// filterRunners returns the runner contexts whose id satisfies match, after
// the real method has validated substring.
func (b wrapped) filterRunners(ctx context.Context, substring string, match func(string) bool) ([]state.RunnerContext, error) {
	if _, err := b.Backend.MatchRunnerContexts(ctx, substring); err != nil {
		return nil, err
	}
	all, err := b.Backend.MatchRunnerContexts(ctx, "")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(rc state.RunnerContext) bool { return !match(rc.RunnerID) }), nil
}

// orphanRunner returns a runner context without its parent chain.
type orphanRunner struct{ wrapped }

func (b orphanRunner) RunnerContext(ctx context.Context, runnerID string) (state.RunnerContext, error) {
	rc, err := b.Backend.RunnerContext(ctx, runnerID)
	rc.Parent = nil
	return rc, err
}

// ownAppDiscovery discovers only the info stored under its own app id.
type ownAppDiscovery struct{ wrapped }

func (b ownAppDiscovery) DiscoverAppInfos(ctx context.Context) (map[string]state.AppInfo, error) {
	all, err := b.Backend.DiscoverAppInfos(ctx)
	maps.DeleteFunc(all, func(appID string, _ state.AppInfo) bool { return appID != b.appID })
	return all, err
}

// purgeKeepsRunners purges everything but the runner contexts.
type purgeKeepsRunners struct{ wrapped }

func (b purgeKeepsRunners) Purge(ctx context.Context) error {
	runners, err := b.Backend.MatchRunnerContexts(ctx, "")
	if err != nil {
		return err
	}
	if err := b.Backend.Purge(ctx); err != nil {
		return err
	}
	for _, rc := range runners {
		if err := b.Backend.StoreRunnerContext(ctx, rc); err != nil {
			return err
		}
	}
	return nil
}

// leakyPurge also purges the other apps the same test opened.
type leakyPurge struct{ wrapped }

func (b leakyPurge) Purge(ctx context.Context) error {
	if err := b.Backend.Purge(ctx); err != nil {
		return err
	}
	b.shared.mu.Lock()
	others := slices.Clone(b.shared.opened[b.t])
	b.shared.mu.Unlock()
	for _, other := range others {
		_ = other.Purge(ctx) // closed ones refuse, which is fine
	}
	return nil
}

// oneByOneUpsert upserts a batch one invocation at a time, so the ones
// before an invalid invocation are written.
type oneByOneUpsert struct{ wrapped }

func (b oneByOneUpsert) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	for _, inv := range invs {
		if err := b.Backend.UpsertInvocations(ctx, []state.Invocation{inv}); err != nil {
			return err
		}
	}
	return nil
}

// defaultedTimestamp stores a history record with a zero timestamp at the
// current time instead of refusing it.
type defaultedTimestamp struct{ wrapped }

func (b defaultedTimestamp) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	if h.Timestamp.IsZero() {
		h.Timestamp = time.Now()
	}
	return b.Backend.AddHistory(ctx, ids, h)
}

// unclosable ignores Close.
type unclosable struct{ wrapped }

func (b unclosable) Close() error { return nil }

// uncancellableUpsert upserts even when the context is done.
type uncancellableUpsert struct{ wrapped }

func (b uncancellableUpsert) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	return b.Backend.UpsertInvocations(context.WithoutCancel(ctx), invs)
}

// uncancellableIterator iterates the history time range to its end even
// when the context is done.
type uncancellableIterator struct{ wrapped }

func (b uncancellableIterator) HistoryInTimeRange(ctx context.Context, start, end time.Time, n int) iter.Seq2[[]state.InvocationHistory, error] {
	return b.Backend.HistoryInTimeRange(context.WithoutCancel(ctx), start, end, n)
}

// busyWriter fails a write that meets another write of its app in flight,
// as SQLite reports "database is locked" to a backend that does not wait and
// retry. Each write takes a little while, so concurrent writers do meet.
type busyWriter struct{ wrapped }

func (b busyWriter) busy(write func() error) error {
	b.shared.mu.Lock()
	if b.shared.writing == nil {
		b.shared.writing = map[string]*atomic.Int32{}
	}
	inFlight := b.shared.writing[b.appID]
	if inFlight == nil {
		inFlight = new(atomic.Int32)
		b.shared.writing[b.appID] = inFlight
	}
	b.shared.mu.Unlock()
	defer inFlight.Add(-1)
	if inFlight.Add(1) > 1 {
		return errors.New("database is locked")
	}
	time.Sleep(100 * time.Microsecond)
	return write()
}

func (b busyWriter) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	return b.busy(func() error { return b.Backend.UpsertInvocations(ctx, invs) })
}

func (b busyWriter) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	return b.busy(func() error { return b.Backend.AddHistory(ctx, ids, h) })
}

func (b busyWriter) SetResult(ctx context.Context, id state.InvocationID, data []byte) error {
	return b.busy(func() error { return b.Backend.SetResult(ctx, id, data) })
}
