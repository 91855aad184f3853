package conformance_test

// The broken backends of TestBrokenBackends: each wraps a correct backend
// and breaks one promise.

import (
	"cmp"
	"context"
	"errors"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/state"
)

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

// The broken pruners. The retention group runs against every variant,
// since wrapped passes Prune through; these break it.

// Prune passes through to the wrapped backend's Prune.
func (b wrapped) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	return b.Backend.(state.Pruner).Prune(ctx, opts)
}

// purgingPruner "prunes" by deleting everything, live work included.
type purgingPruner struct{ wrapped }

func (b purgingPruner) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	if err := opts.Validate(); err != nil {
		return state.PruneStats{}, err
	}
	stats, err := b.wrapped.Prune(ctx, state.PruneOptions{OlderThan: opts.OlderThan, DryRun: true})
	if err != nil || opts.DryRun {
		return stats, err
	}
	return stats, b.Backend.Purge(ctx)
}

// cutoffIgnored deletes finished units however recent.
type cutoffIgnored struct{ wrapped }

func (b cutoffIgnored) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	if err := opts.Validate(); err != nil {
		return state.PruneStats{}, err
	}
	opts.OlderThan = time.Nanosecond
	return b.wrapped.Prune(ctx, opts)
}

// dryRunIgnored deletes in a dry run too.
type dryRunIgnored struct{ wrapped }

func (b dryRunIgnored) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	opts.DryRun = false
	return b.wrapped.Prune(ctx, opts)
}

// zeroMeansAll takes OlderThan 0 (or less) for "everything finished", as
// some task queues' cleanup settings do, instead of refusing it.
type zeroMeansAll struct{ wrapped }

func (b zeroMeansAll) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	if opts.OlderThan <= 0 {
		opts.OlderThan = time.Nanosecond
	}
	return b.wrapped.Prune(ctx, opts)
}

// partialPruner leaves the results of the invocations it deletes behind.
type partialPruner struct{ wrapped }

func (b partialPruner) SetResult(ctx context.Context, id state.InvocationID, data []byte) error {
	if err := b.Backend.SetResult(ctx, id, data); err != nil {
		return err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	if b.shared.results == nil {
		b.shared.results = map[string][]byte{}
	}
	b.shared.results[b.key(id)] = slices.Clone(data)
	return nil
}

func (b partialPruner) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	stats, err := b.wrapped.Prune(ctx, opts)
	if err != nil || opts.DryRun {
		return stats, err
	}
	b.shared.mu.Lock()
	kept := maps.Clone(b.shared.results)
	b.shared.mu.Unlock()
	for k, data := range kept {
		appID, id, _ := strings.Cut(k, "\x00")
		if appID != b.appID {
			continue
		}
		if _, err := b.Backend.Result(ctx, state.InvocationID(id)); errors.Is(err, state.ErrNotFound) {
			_ = b.Backend.SetResult(ctx, state.InvocationID(id), data)
		}
	}
	return stats, nil
}

// uncountedHistory reports no deleted history records.
type uncountedHistory struct{ wrapped }

func (b uncountedHistory) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	stats, err := b.wrapped.Prune(ctx, opts)
	stats.History = 0
	return stats, err
}

// doubledBatches deletes twice BatchSize invocations per transaction, as a
// pruner that keeps a sub-workflow's members together would.
type doubledBatches struct{ wrapped }

func (b doubledBatches) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	opts.BatchSize *= 2
	return b.wrapped.Prune(ctx, opts)
}

// chasingPruner prunes again until a prune finds nothing: new old records
// written meanwhile keep it going as long as they keep coming.
type chasingPruner struct{ wrapped }

func (b chasingPruner) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	var total state.PruneStats
	progress := opts.Progress
	opts.Progress = func(s state.PruneStats) {
		if progress != nil {
			progress(total.Add(s))
		}
	}
	for {
		s, err := b.wrapped.Prune(ctx, opts)
		total = total.Add(s)
		if err != nil || s.Units == 0 || opts.DryRun {
			total.Kept = s.Kept
			return total, err
		}
	}
}

// keptUncounted reports no unit kept, live work or not.
type keptUncounted struct{ wrapped }

func (b keptUncounted) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	stats, err := b.wrapped.Prune(ctx, opts)
	stats.Kept = 0
	return stats, err
}

// The broken browsers. Every variant is a Browser, since wrapped passes
// the three methods through; these break them.

// ListInvocations passes through to the wrapped backend's Browser.
func (b wrapped) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	return b.Backend.(state.Browser).ListInvocations(ctx, f, page)
}

// CountInvocations passes through to the wrapped backend's Browser.
func (b wrapped) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	return b.Backend.(state.Browser).CountInvocations(ctx, f, byTask)
}

// StuckInvocations passes through to the wrapped backend's Browser.
func (b wrapped) StuckInvocations(ctx context.Context, statuses []state.Status, olderThan time.Duration, page state.PageRequest) (state.InvocationPage, error) {
	return b.Backend.(state.Browser).StuckInvocations(ctx, statuses, olderThan, page)
}

// boundedCounter is a state.BoundedCounter broken by its knobs: slack
// says "complete" up to limit+slack matches; dropStatuses counts every
// status.
type boundedCounter struct {
	wrapped
	slack        int
	dropStatuses bool
}

func (b boundedCounter) CountInvocationsUpTo(ctx context.Context, f state.InvocationFilter, byTask bool, limit int) ([]state.StatusCount, bool, error) {
	if err := state.ValidateCountLimit(limit); err != nil {
		return nil, false, err
	}
	if b.dropStatuses && f.Validate() == nil {
		f.Statuses = nil
	}
	counts, err := b.CountInvocations(ctx, f, byTask)
	if err != nil {
		return nil, false, err
	}
	var total int64
	for _, c := range counts {
		total += c.Count
	}
	if total > int64(limit+b.slack) {
		return nil, false, nil
	}
	return counts, true, nil
}

// runnerFilterIgnored lists and counts the invocations of every runner
// context.
type runnerFilterIgnored struct{ wrapped }

func (b runnerFilterIgnored) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	if f.Validate() == nil {
		f.RunnerContextID = ""
	}
	return b.wrapped.ListInvocations(ctx, f, page)
}

func (b runnerFilterIgnored) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	if f.Validate() == nil {
		f.RunnerContextID = ""
	}
	return b.wrapped.CountInvocations(ctx, f, byTask)
}

// parentFilterIgnored lists and counts the invocations of every parent.
type parentFilterIgnored struct{ wrapped }

func (b parentFilterIgnored) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	if f.Validate() == nil {
		f.ParentInvocationID = ""
	}
	return b.wrapped.ListInvocations(ctx, f, page)
}

func (b parentFilterIgnored) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	if f.Validate() == nil {
		f.ParentInvocationID = ""
	}
	return b.wrapped.CountInvocations(ctx, f, byTask)
}

// boundarySkipped loses the first invocation of every page after the
// first, as a cursor one row too far would.
type boundarySkipped struct{ wrapped }

func (b boundarySkipped) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	p, err := b.wrapped.ListInvocations(ctx, f, page)
	if err == nil && page.After != "" && len(p.Invocations) > 0 {
		p.Invocations = p.Invocations[1:]
	}
	return p, err
}

// nextOnLastPage returns a Next on the last page too, as a backend that
// fetches Limit rows rather than Limit+1 would; the page it leads to is
// empty.
type nextOnLastPage struct{ wrapped }

const endOfListing state.Cursor = "end-of-listing"

func (b nextOnLastPage) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	if page.After == endOfListing {
		page.After = ""
		if _, err := b.wrapped.ListInvocations(ctx, f, page); err != nil {
			return state.InvocationPage{}, err
		}
		return state.InvocationPage{Invocations: []state.InvocationSummary{}}, nil
	}
	p, err := b.wrapped.ListInvocations(ctx, f, page)
	if err == nil && p.Next == "" {
		p.Next = endOfListing
	}
	return p, err
}

// stuckCutoffIgnored finds every invocation in the statuses stuck, however
// recently it changed.
type stuckCutoffIgnored struct{ wrapped }

func (b stuckCutoffIgnored) StuckInvocations(ctx context.Context, statuses []state.Status, olderThan time.Duration, page state.PageRequest) (state.InvocationPage, error) {
	if olderThan > 0 {
		olderThan = time.Nanosecond
	}
	return b.wrapped.StuckInvocations(ctx, statuses, olderThan, page)
}

// historyOnlyUncounted leaves ids with history only out of the counts, as
// an inner join of history and invocations would.
type historyOnlyUncounted struct{ wrapped }

func (b historyOnlyUncounted) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	rows, err := b.wrapped.CountInvocations(ctx, f, true)
	if err != nil {
		return nil, err
	}
	out := []state.StatusCount{}
	for _, r := range rows {
		if r.Task.IsZero() {
			continue
		}
		if !byTask {
			r.Task = state.TaskID{}
			if i := slices.IndexFunc(out, func(c state.StatusCount) bool { return c.Status == r.Status }); i >= 0 {
				out[i].Count += r.Count
				continue
			}
		}
		out = append(out, r)
	}
	if !byTask {
		slices.SortFunc(out, func(x, y state.StatusCount) int { return strings.Compare(string(x.Status), string(y.Status)) })
	}
	return out, nil
}

// localBrowser answers the Browser's calls itself, as a backend of its own
// would: it reads every summary from the correct backend, then filters,
// sorts, pages and counts them in Go. With no knob set it is correct (the
// control variant browse_local_unbroken shows it); each knob breaks one
// promise.
type localBrowser struct {
	wrapped
	// lastWritten takes the record written last for the current status,
	// rather than the last of History's order.
	lastWritten bool
	// offsets pages by offset: invocations added before the cursor shift
	// the next page back onto rows already listed.
	offsets bool
	// inclusive starts each page at the previous page's last row again.
	inclusive bool
}

func (b localBrowser) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	if err := b.Backend.AddHistory(ctx, ids, h); err != nil {
		return err
	}
	h.Timestamp = state.FromMicros(state.ToMicros(h.Timestamp))
	h.StatusRecord.Timestamp = state.FromMicros(state.ToMicros(h.StatusRecord.Timestamp))
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	if b.shared.written == nil {
		b.shared.written = map[string]state.InvocationHistory{}
	}
	for _, id := range ids {
		b.shared.written[b.key(id)] = h
	}
	return nil
}

func (b localBrowser) Purge(ctx context.Context) error {
	if err := b.Backend.Purge(ctx); err != nil {
		return err
	}
	b.shared.mu.Lock()
	defer b.shared.mu.Unlock()
	forgetApp(b.wrapped, b.shared.written)
	return nil
}

// summaries returns every summary the correct backend lists, the current
// status taken from the last record written with lastWritten.
func (b localBrowser) summaries(ctx context.Context) ([]state.InvocationSummary, error) {
	var all []state.InvocationSummary
	page := state.PageRequest{Limit: state.MaxPageSize}
	for {
		p, err := b.wrapped.ListInvocations(ctx, state.InvocationFilter{}, page)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Invocations...)
		if p.Next == "" {
			break
		}
		page.After = p.Next
	}
	if b.lastWritten {
		b.shared.mu.Lock()
		defer b.shared.mu.Unlock()
		for i, s := range all {
			if h, ok := b.shared.written[b.key(s.ID)]; ok {
				all[i].Status, all[i].RunnerContextID, all[i].ChangedAt = h.StatusRecord, h.RunnerContextID, h.Timestamp
			}
		}
	}
	return all, nil
}

func (b localBrowser) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	if err := errors.Join(f.Validate(), page.Validate()); err != nil {
		return state.InvocationPage{}, err
	}
	all, err := b.summaries(ctx)
	if err != nil {
		return state.InvocationPage{}, err
	}
	rows := slices.DeleteFunc(all, func(s state.InvocationSummary) bool { return !conformance.BrowseMatch(f, s) })
	slices.SortFunc(rows, func(x, y state.InvocationSummary) int { return localKey(y).compare(localKey(x)) })
	return b.page(rows, page, -1)
}

func (b localBrowser) StuckInvocations(ctx context.Context, statuses []state.Status, olderThan time.Duration, page state.PageRequest) (state.InvocationPage, error) {
	f := state.InvocationFilter{Statuses: statuses}
	if err := errors.Join(f.Validate(), page.Validate()); err != nil {
		return state.InvocationPage{}, err
	}
	if len(statuses) == 0 || olderThan <= 0 {
		return state.InvocationPage{}, state.Invalid("statuses or olderThan", "empty or not positive")
	}
	all, err := b.summaries(ctx)
	if err != nil {
		return state.InvocationPage{}, err
	}
	cutoff := time.Now().Add(-olderThan)
	rows := slices.DeleteFunc(all, func(s state.InvocationSummary) bool {
		return !conformance.BrowseMatch(f, s) || !s.ChangedAt.Before(cutoff)
	})
	slices.SortFunc(rows, func(x, y state.InvocationSummary) int { return localKey(x).compare(localKey(y)) })
	return b.page(rows, page, 1)
}

func (b localBrowser) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	all, err := b.summaries(ctx)
	if err != nil {
		return nil, err
	}
	out := []state.StatusCount{}
	for _, s := range all {
		if !conformance.BrowseMatch(f, s) {
			continue
		}
		row := state.StatusCount{Status: s.Status.Status, Count: 1}
		if byTask {
			row.Task = s.Task
		}
		if i := slices.IndexFunc(out, func(c state.StatusCount) bool { return c.Task == row.Task && c.Status == row.Status }); i >= 0 {
			out[i].Count++
		} else {
			out = append(out, row)
		}
	}
	taskKey := func(tk state.TaskID) string {
		if tk.IsZero() {
			return ""
		}
		return tk.Key()
	}
	slices.SortFunc(out, func(x, y state.StatusCount) int {
		return cmp.Or(strings.Compare(taskKey(x.Task), taskKey(y.Task)), strings.Compare(string(x.Status), string(y.Status)))
	})
	return out, nil
}

// page cuts the page after page.After out of rows, sorted in the listing's
// order; dir is the sign of (row key - cursor key) of the rows after the
// cursor.
func (b localBrowser) page(rows []state.InvocationSummary, page state.PageRequest, dir int) (state.InvocationPage, error) {
	start := 0
	if page.After != "" {
		if b.offsets {
			n, err := strconv.Atoi(string(page.After))
			if err != nil || n < 0 {
				return state.InvocationPage{}, state.Invalid("page.After", "not an offset")
			}
			start = min(n, len(rows))
		} else {
			micros, id, ok := strings.Cut(string(page.After), "|")
			n, err := strconv.ParseInt(micros, 10, 64)
			if !ok || err != nil {
				return state.InvocationPage{}, state.Invalid("page.After", "not a key")
			}
			after := rowKey{n, state.InvocationID(id)}
			start = slices.IndexFunc(rows, func(s state.InvocationSummary) bool {
				c := localKey(s).compare(after) * dir
				return c > 0 || (b.inclusive && c == 0)
			})
			if start < 0 {
				start = len(rows)
			}
		}
	}
	rows = rows[start:]
	if len(rows) <= page.Size() {
		return state.InvocationPage{Invocations: rows}, nil
	}
	rows = rows[:page.Size()]
	next := state.Cursor(strconv.Itoa(start + len(rows)))
	if !b.offsets {
		last := localKey(rows[len(rows)-1])
		next = state.Cursor(strconv.FormatInt(last.micros, 10) + "|" + string(last.id))
	}
	return state.InvocationPage{Invocations: rows, Next: next}, nil
}

// rowKey is where a summary sorts: by (ChangedAt, ID).
type rowKey struct {
	micros int64
	id     state.InvocationID
}

func localKey(s state.InvocationSummary) rowKey { return rowKey{state.ToMicros(s.ChangedAt), s.ID} }

func (k rowKey) compare(l rowKey) int {
	return cmp.Or(cmp.Compare(k.micros, l.micros), cmp.Compare(k.id, l.id))
}

// The broken watchers. Every variant is a Watcher, since wrapped passes
// the two methods through; these break them.

// Watch passes through to the wrapped backend's Watcher.
func (b wrapped) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return b.Backend.(state.Watcher).Watch(ctx, req)
}

// LatestChange passes through to the wrapped backend's Watcher.
func (b wrapped) LatestChange(ctx context.Context) (state.ChangeCursor, error) {
	return b.Backend.(state.Watcher).LatestChange(ctx)
}

// resumeSkipsOne loses the first change after a cursor, as a watch that
// starts at the cursor's change plus one would.
type resumeSkipsOne struct{ wrapped }

func (b resumeSkipsOne) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		skip := req.After != ""
		for c, err := range b.wrapped.Watch(ctx, req) {
			if skip && err == nil {
				skip = false
				continue
			}
			if !yield(c, err) {
				return
			}
		}
	}
}

// resumeRepeats delivers the change a cursor came with again, first, as a
// watch that starts at the cursor's change would.
type resumeRepeats struct{ wrapped }

func (b resumeRepeats) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		if req.After != "" {
			for c, err := range b.wrapped.Watch(ctx, state.WatchRequest{}) {
				if err != nil {
					break
				}
				if c.Cursor == req.After {
					if !yield(c, nil) {
						return
					}
					break
				}
			}
		}
		for c, err := range b.wrapped.Watch(ctx, req) {
			if !yield(c, err) {
				return
			}
		}
	}
}

// reorderedWatch swaps neighbouring changes of one invocation, without
// Follow, as a watch ordered by something else than the commit would.
type reorderedWatch struct{ wrapped }

func (b reorderedWatch) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	if req.Follow {
		return b.wrapped.Watch(ctx, req)
	}
	return func(yield func(state.Change, error) bool) {
		var all []state.Change
		for c, err := range b.wrapped.Watch(ctx, req) {
			if err != nil {
				yield(c, err)
				return
			}
			all = append(all, c)
		}
		for i := 0; i+1 < len(all); i++ {
			if all[i].InvocationID == all[i+1].InvocationID {
				all[i], all[i+1] = all[i+1], all[i]
				i++
			}
		}
		for _, c := range all {
			if !yield(c, nil) {
				return
			}
		}
	}
}

// watchFilterIgnored ignores one field of a valid filter.
type watchFilterIgnored struct {
	wrapped
	clear func(*state.ChangeFilter)
}

func (b watchFilterIgnored) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	if req.Validate() == nil {
		b.clear(&req.Filter)
	}
	return b.wrapped.Watch(ctx, req)
}

// endlessWatch follows whether asked to or not.
type endlessWatch struct{ wrapped }

func (b endlessWatch) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	req.Follow = true
	return b.wrapped.Watch(ctx, req)
}

// lenientCursor starts a watch whose cursor it does not know at the oldest
// change instead of refusing the cursor.
type lenientCursor struct{ wrapped }

func (b lenientCursor) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return b.restartOn(ctx, req, state.ErrInvalidArgument)
}

// restartOn runs the watch req, and runs it again from the empty cursor
// when it fails first with target, when the cursor is what it refused.
func (b wrapped) restartOn(ctx context.Context, req state.WatchRequest, target error) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		again := req
		again.After = ""
		restart := false
		for c, err := range b.Watch(ctx, req) {
			if errors.Is(err, target) && req.After != "" && again.Validate() == nil {
				restart = true
				break
			}
			if !yield(c, err) {
				return
			}
		}
		if restart {
			for c, err := range b.Watch(ctx, again) {
				if !yield(c, err) {
					return
				}
			}
		}
	}
}

// unexpiredCursor starts a watch from an expired cursor at the oldest
// change kept, silently missing what was pruned.
type unexpiredCursor struct{ wrapped }

func (b unexpiredCursor) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return b.restartOn(ctx, req, state.ErrCursorExpired)
}

// swallowedCancel ends a watch whose context ended without saying why.
type swallowedCancel struct{ wrapped }

func (b swallowedCancel) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		for c, err := range b.wrapped.Watch(ctx, req) {
			if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return
			}
			if !yield(c, err) {
				return
			}
		}
	}
}

// laggingLatest returns the cursor of the change before the newest, as a
// LatestChange reading a stale maximum would.
type laggingLatest struct{ wrapped }

func (b laggingLatest) LatestChange(ctx context.Context) (state.ChangeCursor, error) {
	if _, err := b.wrapped.LatestChange(ctx); err != nil {
		return "", err
	}
	var prev, last state.ChangeCursor
	for c, err := range b.wrapped.Watch(ctx, state.WatchRequest{}) {
		if err != nil {
			return "", err
		}
		prev, last = last, c.Cursor
	}
	return prev, nil
}
