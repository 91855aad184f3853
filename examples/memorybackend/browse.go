package memorybackend

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskstate/statebackend/state"
)

var (
	_ state.Browser        = (*Backend)(nil)
	_ state.BoundedCounter = (*Backend)(nil)
)

// The Browser, the simple way: every call looks at the last history record
// of every invocation (the current status), keeps those that match, sorts
// them and cuts out one page after the cursor. A database backend cannot
// afford to read everything and finds its rows through indexes instead;
// the promises are the same.

// ListInvocations implements state.Browser.
func (b *Backend) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (state.InvocationPage, error) {
	if err := b.check(ctx); err != nil {
		return state.InvocationPage{}, err
	}
	after, err := validateBrowse(f, page)
	if err != nil {
		return state.InvocationPage{}, err
	}
	var rows []state.InvocationSummary
	b.read(func(a *app) { rows = a.current(func(s state.InvocationSummary) bool { return matches(f, s) }) })
	// Newest change first: the reverse of the key order.
	slices.SortFunc(rows, func(x, y state.InvocationSummary) int { return keyOf(y).compare(keyOf(x)) })
	return pageOf(rows, page.Size(), func(s state.InvocationSummary) bool {
		return after == nil || keyOf(s).compare(*after) < 0
	}), nil
}

// CountInvocations implements state.Browser.
func (b *Backend) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var rows []state.InvocationSummary
	b.read(func(a *app) { rows = a.current(func(s state.InvocationSummary) bool { return matches(f, s) }) })
	type group struct {
		task   state.TaskID
		status state.Status
	}
	counts := map[group]int64{}
	for _, s := range rows {
		g := group{status: s.Status.Status}
		if byTask {
			g.task = s.Task
		}
		counts[g]++
	}
	out := make([]state.StatusCount, 0, len(counts))
	for g, n := range counts {
		out = append(out, state.StatusCount{Task: g.task, Status: g.status, Count: n})
	}
	slices.SortFunc(out, func(x, y state.StatusCount) int {
		return cmp.Or(strings.Compare(taskKey(x.Task), taskKey(y.Task)), strings.Compare(string(x.Status), string(y.Status)))
	})
	return out, nil
}

// CountInvocationsUpTo implements state.BoundedCounter by counting
// everything: in memory, that is no slower than stopping at the limit.
func (b *Backend) CountInvocationsUpTo(ctx context.Context, f state.InvocationFilter, byTask bool, limit int) ([]state.StatusCount, bool, error) {
	if err := state.ValidateCountLimit(limit); err != nil {
		return nil, false, err
	}
	counts, err := b.CountInvocations(ctx, f, byTask)
	if err != nil {
		return nil, false, err
	}
	var total int64
	for _, c := range counts {
		total += c.Count
	}
	if total > int64(limit) {
		return nil, false, nil
	}
	return counts, true, nil
}

// StuckInvocations implements state.Browser.
func (b *Backend) StuckInvocations(ctx context.Context, statuses []state.Status, olderThan time.Duration, page state.PageRequest) (state.InvocationPage, error) {
	if err := b.check(ctx); err != nil {
		return state.InvocationPage{}, err
	}
	if len(statuses) == 0 {
		return state.InvocationPage{}, state.Invalid("statuses", "empty")
	}
	for i, s := range statuses {
		if !s.Valid() {
			return state.InvocationPage{}, state.Invalid("statuses["+strconv.Itoa(i)+"]", "unknown status "+strconv.Quote(string(s)))
		}
	}
	if olderThan <= 0 {
		return state.InvocationPage{}, state.Invalid("olderThan", "must be positive, got "+olderThan.String())
	}
	f := state.InvocationFilter{Statuses: statuses}
	after, err := validateBrowse(state.InvocationFilter{}, page)
	if err != nil {
		return state.InvocationPage{}, err
	}
	cutoff := state.ToMicros(time.Now().Add(-olderThan))
	var rows []state.InvocationSummary
	b.read(func(a *app) {
		rows = a.current(func(s state.InvocationSummary) bool {
			return matches(f, s) && state.ToMicros(s.ChangedAt) < cutoff
		})
	})
	// Longest stuck first: the key order.
	slices.SortFunc(rows, func(x, y state.InvocationSummary) int { return keyOf(x).compare(keyOf(y)) })
	return pageOf(rows, page.Size(), func(s state.InvocationSummary) bool {
		return after == nil || keyOf(s).compare(*after) > 0
	}), nil
}

// current returns the summary of every invocation with history whose
// summary passes keep. The current status is the last of the invocation's
// records, which historyTable keeps in History's order.
func (a *app) current(keep func(state.InvocationSummary) bool) []state.InvocationSummary {
	var out []state.InvocationSummary
	for id, rows := range a.history.byInvocation {
		if len(rows) == 0 {
			continue
		}
		last := rows[len(rows)-1].rec
		s := state.InvocationSummary{
			ID:              id,
			Status:          last.StatusRecord,
			RunnerContextID: last.RunnerContextID,
			ChangedAt:       last.Timestamp,
		}
		if inv, ok := a.invocations[id]; ok { // zero for an id with history only
			s.Task = inv.CallID.Task
			s.Workflow = inv.Workflow
			s.ParentInvocationID = inv.ParentInvocationID
		}
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// matches reports whether s passes every set field of f. An id with history
// only has a zero task, workflow and parent, so it never passes a filter on
// them.
func matches(f state.InvocationFilter, s state.InvocationSummary) bool {
	micros := state.ToMicros(s.ChangedAt)
	return (len(f.Tasks) == 0 || (!s.Task.IsZero() && slices.Contains(f.Tasks, s.Task))) &&
		(len(f.Statuses) == 0 || slices.Contains(f.Statuses, s.Status.Status)) &&
		(f.WorkflowID == "" || s.Workflow.WorkflowID == f.WorkflowID) &&
		(f.WorkflowType.IsZero() || s.Workflow.WorkflowType == f.WorkflowType) &&
		(f.ParentInvocationID == "" || s.ParentInvocationID == f.ParentInvocationID) &&
		(f.RunnerContextID == "" || s.RunnerContextID == f.RunnerContextID) &&
		(f.ChangedSince.IsZero() || micros >= state.ToMicros(f.ChangedSince)) &&
		(f.ChangedBefore.IsZero() || micros < state.ToMicros(f.ChangedBefore))
}

// pageOf returns the first size rows that pass from, in order, and the cursor
// of the next page when more rows pass. rows are sorted so that the rows
// after the cursor are a suffix: from skips a prefix.
func pageOf(rows []state.InvocationSummary, size int, from func(state.InvocationSummary) bool) state.InvocationPage {
	i := slices.IndexFunc(rows, from)
	if i < 0 {
		return state.InvocationPage{Invocations: []state.InvocationSummary{}}
	}
	rows = rows[i:]
	if len(rows) <= size {
		return state.InvocationPage{Invocations: rows}
	}
	rows = rows[:size]
	return state.InvocationPage{Invocations: rows, Next: keyOf(rows[size-1]).cursor()}
}

// browseKey is where a summary sorts in a listing: by the time of its
// current status, then by id.
type browseKey struct {
	micros int64
	id     state.InvocationID
}

func keyOf(s state.InvocationSummary) browseKey {
	return browseKey{state.ToMicros(s.ChangedAt), s.ID}
}

func (k browseKey) compare(l browseKey) int {
	return cmp.Or(cmp.Compare(k.micros, l.micros), cmp.Compare(k.id, l.id))
}

// cursor encodes k as "<micros>:<id>". Any such pair is a valid position,
// so only a string that does not parse is a bad cursor.
func (k browseKey) cursor() state.Cursor {
	return state.Cursor(strconv.FormatInt(k.micros, 10) + ":" + string(k.id))
}

// parseCursor decodes a cursor made by browseKey.cursor; nil for the start.
func parseCursor(c state.Cursor) (*browseKey, error) {
	if c == "" {
		return nil, nil
	}
	micros, id, ok := strings.Cut(string(c), ":")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || state.InvocationID(id).Validate("") != nil {
		return nil, state.Invalid("page.After", "not a cursor of this backend")
	}
	return &browseKey{n, state.InvocationID(id)}, nil
}

// validateBrowse checks a filter and a page, and decodes the page's cursor.
func validateBrowse(f state.InvocationFilter, page state.PageRequest) (*browseKey, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := page.Validate(); err != nil {
		return nil, err
	}
	return parseCursor(page.After)
}

// taskKey is what counts are ordered by: the task key, empty for the zero
// task of ids with history only.
func taskKey(t state.TaskID) string {
	if t.IsZero() {
		return ""
	}
	return t.Key()
}
