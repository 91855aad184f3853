package statebackend

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// The Store finds invocations by their current status through the table
// of current statuses that the database keeps (see package migrations,
// version 3): listings and counts read it and its indexes, never the
// whole history.
var (
	_ state.Browser        = (*Store)(nil)
	_ state.CountEstimator = (*Store)(nil)
	_ state.BoundedCounter = (*Store)(nil)
)

// ListInvocations implements state.Browser.
func (s *Store) ListInvocations(ctx context.Context, f state.InvocationFilter, page state.PageRequest) (_ state.InvocationPage, err error) {
	c := s.begin(ctx, op.ListInvocations)
	defer c.end(&err)
	if err := f.Validate(); err != nil {
		return state.InvocationPage{}, err
	}
	if err := page.Validate(); err != nil {
		return state.InvocationPage{}, err
	}
	after, err := decodeCursor(page.After)
	if err != nil {
		return state.InvocationPage{}, err
	}
	var rows []repository.BrowseRow
	err = c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.ListInvocations(db, browseFilter(f), allStatuses, after, page.Size()+1)
		return err
	})
	if err != nil {
		return state.InvocationPage{}, err
	}
	return c.invocationPage(rows, page.Size())
}

// StuckInvocations implements state.Browser. The cutoff is taken from
// this process's clock.
func (s *Store) StuckInvocations(ctx context.Context, statuses []state.Status, olderThan time.Duration, page state.PageRequest) (_ state.InvocationPage, err error) {
	c := s.begin(ctx, op.StuckInvocations)
	defer c.end(&err)
	if len(statuses) == 0 {
		return state.InvocationPage{}, state.Invalid("statuses", "empty")
	}
	if err := (state.InvocationFilter{Statuses: statuses}).Validate(); err != nil {
		return state.InvocationPage{}, err
	}
	if olderThan <= 0 {
		return state.InvocationPage{}, state.Invalid("olderThan", olderThan.String()+" is not positive")
	}
	if err := page.Validate(); err != nil {
		return state.InvocationPage{}, err
	}
	after, err := decodeCursor(page.After)
	if err != nil {
		return state.InvocationPage{}, err
	}
	cutoff := state.ToMicros(time.Now().Add(-olderThan))
	var rows []repository.BrowseRow
	err = c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.StuckInvocations(db, statusKeys(statuses), cutoff, after, page.Size()+1)
		return err
	})
	if err != nil {
		return state.InvocationPage{}, err
	}
	return c.invocationPage(rows, page.Size())
}

// CountInvocations implements state.Browser.
func (s *Store) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) (_ []state.StatusCount, err error) {
	c := s.begin(ctx, op.CountInvocations)
	defer c.end(&err)
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return s.countInvocations(c, f, byTask)
}

// countInvocations is CountInvocations within the call c.
func (s *Store) countInvocations(c call, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	var rows []repository.StatusCountRow
	err := c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.CountInvocations(db, browseFilter(f), byTask)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.statusCounts(rows)
}

// CountInvocationsUpTo implements state.BoundedCounter: it reads at most
// limit+1 current statuses (and, for a workflow or parent filter, at most
// repository.MembersByID+1 ids of members first), however many match.
func (s *Store) CountInvocationsUpTo(ctx context.Context, f state.InvocationFilter, byTask bool, limit int) (_ []state.StatusCount, complete bool, err error) {
	c := s.begin(ctx, op.CountInvocationsUpTo)
	defer c.end(&err)
	if err := f.Validate(); err != nil {
		return nil, false, err
	}
	if err := state.ValidateCountLimit(limit); err != nil {
		return nil, false, err
	}
	var rows []repository.StatusCountRow
	err = c.read(func(db *gorm.DB) (err error) {
		rows, complete, err = s.repo.CountInvocationsUpTo(db, browseFilter(f), byTask, limit)
		return err
	})
	if err != nil || !complete {
		return nil, false, err
	}
	counts, err := c.statusCounts(rows)
	return counts, err == nil, err
}

// statusCounts converts count rows, sorted by task key then status.
func (c call) statusCounts(rows []repository.StatusCountRow) (_ []state.StatusCount, err error) {
	out := make([]state.StatusCount, 0, len(rows))
	for _, r := range rows {
		if r.Count == 0 {
			continue
		}
		var task state.TaskID
		if r.TaskIDKey != "" {
			if task, err = state.ParseTaskID(r.TaskIDKey); err != nil {
				return nil, fmt.Errorf("statebackend: stored task key %q is malformed: %w", r.TaskIDKey, err)
			}
		}
		out = append(out, state.StatusCount{Task: task, Status: state.Status(r.Status), Count: r.Count})
	}
	// Byte order whatever the database's collation.
	slices.SortFunc(out, func(a, b state.StatusCount) int {
		if c := compareTasks(a.Task, b.Task); c != 0 {
			return c
		}
		return strings.Compare(string(a.Status), string(b.Status))
	})
	c.tel.Returned(len(out))
	return out, nil
}

// sampleTasksFrom is the estimated number of current statuses from which
// EstimateInvocations per task samples the table rather than counts it
// (an exact count per task takes about 150 ms at a million on Postgres).
const sampleTasksFrom = 200_000

// EstimateInvocations implements state.CountEstimator: on Postgres,
// counts per status with no other filter than statuses are estimated from
// the statistics autovacuum's ANALYZE keeps, and counts per task and
// status, on a table of sampleTasksFrom rows or more, from a sample of
// its pages (repository.EstimateTaskStatusCounts); everything else is
// counted.
func (s *Store) EstimateInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) (_ []state.StatusCount, estimated bool, err error) {
	c := s.begin(ctx, op.EstimateInvocations)
	defer c.end(&err)
	if err := f.Validate(); err != nil {
		return nil, false, err
	}
	statusesOnly := len(f.Tasks) == 0 && f.WorkflowID == "" && f.WorkflowType.IsZero() && f.ParentInvocationID == "" &&
		f.RunnerContextID == "" && f.ChangedSince.IsZero() && f.ChangedBefore.IsZero()
	if !statusesOnly {
		counts, err := s.countInvocations(c, f, byTask)
		return counts, false, err
	}
	var rows []repository.StatusCountRow
	var ok bool
	err = c.read(func(db *gorm.DB) (err error) {
		if byTask {
			rows, ok, err = s.repo.EstimateTaskStatusCounts(db, sampleTasksFrom)
		} else {
			rows, ok, err = s.repo.EstimateStatusCounts(db)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if !ok {
		counts, err := s.countInvocations(c, f, byTask)
		return counts, false, err
	}
	if len(f.Statuses) > 0 {
		rows = slices.DeleteFunc(rows, func(r repository.StatusCountRow) bool {
			return !slices.Contains(f.Statuses, state.Status(r.Status))
		})
	}
	counts, err := c.statusCounts(rows)
	return counts, true, err
}

// compareTasks orders tasks by key, the zero task (ids with history only)
// first.
func compareTasks(a, b state.TaskID) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return -1
	case b.IsZero():
		return 1
	}
	return strings.Compare(a.Key(), b.Key())
}

// invocationPage converts up to size rows into a page; a row beyond size
// says there is a next page.
func (c call) invocationPage(rows []repository.BrowseRow, size int) (state.InvocationPage, error) {
	var page state.InvocationPage
	if len(rows) > size {
		rows = rows[:size]
		last := rows[len(rows)-1]
		page.Next = encodeCursor(repository.BrowseKey{Timestamp: last.StatusTimestamp, ID: last.InvocationID})
	}
	page.Invocations = make([]state.InvocationSummary, len(rows))
	for i, r := range rows {
		sum, err := summaryFromRow(r)
		if err != nil {
			return state.InvocationPage{}, err
		}
		page.Invocations[i] = sum
	}
	c.tel.Returned(len(rows))
	return page, nil
}

// summaryFromRow converts a listed row; a row that does not parse
// (written by something else) is reported, never guessed at.
func summaryFromRow(r repository.BrowseRow) (state.InvocationSummary, error) {
	var h state.InvocationHistory
	if err := h.UnmarshalJSON([]byte(r.HistoryJSON)); err != nil {
		return state.InvocationSummary{}, fmt.Errorf("statebackend: stored history record of %q is malformed: %w", r.InvocationID, err)
	}
	sum := state.InvocationSummary{
		ID:              state.InvocationID(r.InvocationID),
		Status:          h.StatusRecord,
		RunnerContextID: h.RunnerContextID,
		ChangedAt:       state.FromMicros(r.StatusTimestamp),
	}
	if !r.HasInvocation {
		return sum, nil
	}
	bad := func(err error) (state.InvocationSummary, error) {
		return state.InvocationSummary{}, fmt.Errorf("statebackend: stored invocation %q is malformed: %w", r.InvocationID, err)
	}
	task, err := state.ParseTaskID(r.InvocationTaskKey)
	if err != nil {
		return bad(err)
	}
	wfType, err := state.ParseTaskID(r.WorkflowTypeKey)
	if err != nil {
		return bad(err)
	}
	sum.Task = task
	sum.Workflow = state.WorkflowIdentity{
		WorkflowID:       state.InvocationID(r.WorkflowID),
		WorkflowType:     wfType,
		ParentWorkflowID: state.InvocationID(r.ParentWorkflowID),
	}
	sum.ParentInvocationID = state.InvocationID(r.ParentInvocation)
	return sum, nil
}

// browseFilter converts f to the repository's filter.
func browseFilter(f state.InvocationFilter) repository.BrowseFilter {
	out := repository.BrowseFilter{
		Statuses:   statusKeys(f.Statuses),
		WorkflowID: string(f.WorkflowID),
		Parent:     string(f.ParentInvocationID),
		Runner:     f.RunnerContextID,
	}
	for _, t := range f.Tasks {
		out.Tasks = append(out.Tasks, t.Key())
	}
	slices.Sort(out.Tasks)
	out.Tasks = slices.Compact(out.Tasks)
	if !f.WorkflowType.IsZero() {
		out.WorkflowType = f.WorkflowType.Key()
	}
	if !f.ChangedSince.IsZero() {
		out.Since = state.ToMicros(f.ChangedSince)
	}
	if !f.ChangedBefore.IsZero() {
		out.Before = state.ToMicros(f.ChangedBefore)
	}
	return out
}

// allStatuses lists every status's name.
var allStatuses = statusKeys(state.Statuses())

func statusKeys(statuses []state.Status) []string {
	out := make([]string, 0, len(statuses))
	for _, st := range statuses {
		out = append(out, string(st))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cursorVersion starts every cursor this store makes, so that a later
// format can tell its own from these.
const cursorVersion = "1."

// encodeCursor makes the opaque cursor of k: "1." and the base64 (URL
// alphabet, no padding) of "<timestamp>,<id>".
func encodeCursor(k repository.BrowseKey) state.Cursor {
	raw := strconv.FormatInt(k.Timestamp, 10) + "," + k.ID
	return state.Cursor(cursorVersion + base64.RawURLEncoding.EncodeToString([]byte(raw)))
}

// decodeCursor reads a cursor made by encodeCursor; nil for the empty
// cursor.
func decodeCursor(c state.Cursor) (*repository.BrowseKey, error) {
	if c == "" {
		return nil, nil
	}
	bad := state.Invalid("page.After", "not a cursor of this store")
	rest, ok := strings.CutPrefix(string(c), cursorVersion)
	if !ok {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, bad
	}
	ts, id, ok := bytes.Cut(raw, []byte(","))
	if !ok {
		return nil, bad
	}
	micros, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil || state.ValidateKey("cursor id", string(id)) != nil || len(id) == 0 {
		return nil, bad
	}
	return &repository.BrowseKey{Timestamp: micros, ID: string(id)}, nil
}
