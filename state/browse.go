package state

import (
	"context"
	"strconv"
	"time"
)

// Page sizes of Browser listings.
const (
	// DefaultPageSize is the page size when PageRequest.Limit is 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page a Browser returns.
	MaxPageSize = 1000
	// MaxCountLimit is the largest limit of
	// BoundedCounter.CountInvocationsUpTo.
	MaxCountLimit = 2000
)

// Browser is implemented by backends that can find invocations by their
// current status, task, workflow, parent, runner and time, and count them,
// without reading every history record: what a monitor asks. It is
// optional; test for it with a type assertion (b.(state.Browser)). The
// conformance suite's "browse" group checks every promise below for
// backends that implement it.
//
// # The current status
//
// An invocation's current status is its last history record in History's
// order: the latest by timestamp, then by insertion. A record that arrives
// late with an older timestamp does not change it. An invocation is
// listed and counted once it has a history record, whether or not it was
// stored with UpsertInvocations (an id with history only is listed with an
// empty Task); an invocation with no history is not listed.
//
// Filters on the task, workflow and parent apply to invocations stored
// with UpsertInvocations; the runner filter and the time window apply to
// the current status record. Every call validates its filter and page
// first: bad input fails with ErrInvalidArgument.
type Browser interface {
	// ListInvocations returns a page of the invocations that match f,
	// newest change first (ChangedAt descending, then ID descending), and
	// the cursor of the next page: empty when there is none. Every page but
	// the last holds page.Size() invocations. Paging is by key, so an
	// invocation whose current status does not change while the pages are
	// read appears exactly once, however many invocations are added
	// meanwhile; one whose status changes meanwhile may appear again (at
	// its new place) or be skipped at its old one. A cursor is only valid
	// with the filter it was returned for.
	ListInvocations(ctx context.Context, f InvocationFilter, page PageRequest) (InvocationPage, error)

	// CountInvocations counts the invocations that match f per current
	// status, and per task as well when byTask is true. Rows with a zero
	// count are omitted. Rows are ordered by task key (TaskID.Key; the
	// empty task of ids with history only first), then status, both by
	// byte order; without byTask, Task is empty.
	CountInvocations(ctx context.Context, f InvocationFilter, byTask bool) ([]StatusCount, error)

	// StuckInvocations returns a page of the invocations whose current
	// status is one of statuses and has not changed for longer than
	// olderThan (by the backend's clock), longest stuck first (ChangedAt
	// ascending, then ID ascending): what recovery asks for invocations
	// left running by a runner that died. statuses must not be empty;
	// olderThan must be positive.
	StuckInvocations(ctx context.Context, statuses []Status, olderThan time.Duration, page PageRequest) (InvocationPage, error)
}

// CountEstimator is implemented by browsers that can estimate counts from
// the database's statistics, in a time that does not grow with the number
// of invocations, where CountInvocations reads every invocation it
// counts: what an overview that refreshes every few seconds wants of a
// large database. It is optional; test for it with a type assertion.
type CountEstimator interface {
	// EstimateInvocations returns what CountInvocations(ctx, f, byTask)
	// would, estimated where the backend can (estimated is then true),
	// counted exactly otherwise (estimated false): for filters and
	// databases the statistics cannot answer. Estimates follow the
	// database's statistics, which lag behind the writes; a status absent
	// from them is omitted, as a zero count is.
	EstimateInvocations(ctx context.Context, f InvocationFilter, byTask bool) (counts []StatusCount, estimated bool, err error)
}

// BoundedCounter is implemented by browsers that can count the
// invocations matching a filter when there are few, and say that there are
// many otherwise, in a time that grows with the limit rather than with the
// invocations that match: what a page showing "50 of more than 2,000
// children" asks of a run with a million. It is optional; test for it with
// a type assertion.
type BoundedCounter interface {
	// CountInvocationsUpTo returns what CountInvocations(ctx, f, byTask)
	// would, and complete true, when at most limit invocations match f;
	// when more do, it returns no counts and complete false. limit must be
	// in [1, MaxCountLimit].
	CountInvocationsUpTo(ctx context.Context, f InvocationFilter, byTask bool, limit int) (counts []StatusCount, complete bool, err error)
}

// ValidateCountLimit reports whether limit can be passed to
// BoundedCounter.CountInvocationsUpTo. The error wraps ErrInvalidArgument.
func ValidateCountLimit(limit int) error {
	if limit < 1 || limit > MaxCountLimit {
		return Invalid("limit", strconv.Itoa(limit)+" is not in [1, "+strconv.Itoa(MaxCountLimit)+"]")
	}
	return nil
}

// InvocationFilter selects invocations for a Browser. Zero fields select
// everything; set fields must all match.
type InvocationFilter struct {
	// Tasks selects invocations of any of these tasks.
	Tasks []TaskID
	// Statuses selects invocations whose current status is any of these.
	Statuses []Status
	// WorkflowID selects the invocations that run in this workflow run.
	WorkflowID InvocationID
	// WorkflowType selects the invocations that run in a workflow of this
	// type.
	WorkflowType TaskID
	// ParentInvocationID selects the children of this invocation.
	ParentInvocationID InvocationID
	// RunnerContextID selects invocations whose current status record was
	// written by this runner context.
	RunnerContextID string
	// ChangedSince and ChangedBefore bound the time of the current status
	// record: ChangedSince <= ChangedAt < ChangedBefore. Zero means
	// unbounded.
	ChangedSince, ChangedBefore time.Time
}

// maxFilterValues bounds the task and status lists of a filter.
const maxFilterValues = 100

// Validate reports whether f can be used. The error wraps
// ErrInvalidArgument.
func (f InvocationFilter) Validate() error {
	if len(f.Tasks) > maxFilterValues {
		return Invalid("filter.Tasks", "more than "+strconv.Itoa(maxFilterValues)+" tasks")
	}
	for i, t := range f.Tasks {
		if err := t.Validate("filter.Tasks[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	if len(f.Statuses) > maxFilterValues {
		return Invalid("filter.Statuses", "more than "+strconv.Itoa(maxFilterValues)+" statuses")
	}
	for i, s := range f.Statuses {
		if !s.Valid() {
			return Invalid("filter.Statuses["+strconv.Itoa(i)+"]", "unknown status "+quote(string(s)))
		}
	}
	if f.WorkflowID != "" {
		if err := f.WorkflowID.Validate("filter.WorkflowID"); err != nil {
			return err
		}
	}
	if !f.WorkflowType.IsZero() {
		if err := f.WorkflowType.Validate("filter.WorkflowType"); err != nil {
			return err
		}
	}
	if f.ParentInvocationID != "" {
		if err := f.ParentInvocationID.Validate("filter.ParentInvocationID"); err != nil {
			return err
		}
	}
	if err := ValidateKey("filter.RunnerContextID", f.RunnerContextID); err != nil {
		return err
	}
	if !f.ChangedSince.IsZero() {
		if err := ValidateTimestamp("filter.ChangedSince", f.ChangedSince); err != nil {
			return err
		}
	}
	if !f.ChangedBefore.IsZero() {
		if err := ValidateTimestamp("filter.ChangedBefore", f.ChangedBefore); err != nil {
			return err
		}
	}
	if !f.ChangedSince.IsZero() && !f.ChangedBefore.IsZero() && !f.ChangedSince.Before(f.ChangedBefore) {
		return Invalid("filter.ChangedSince", "not before ChangedBefore")
	}
	return nil
}

// Cursor is an opaque position in a listing, returned by a Browser as
// InvocationPage.Next and passed back as PageRequest.After. The empty
// cursor is the start.
type Cursor string

// PageRequest asks a Browser for one page.
type PageRequest struct {
	// Limit is the page size: 0 means DefaultPageSize; at most MaxPageSize.
	Limit int
	// After is the Next of the previous page, or empty for the first.
	After Cursor
}

// Validate reports whether p can be used. The error wraps
// ErrInvalidArgument. The cursor is checked by the backend that made it.
func (p PageRequest) Validate() error {
	if p.Limit < 0 || p.Limit > MaxPageSize {
		return Invalid("page.Limit", strconv.Itoa(p.Limit)+" is not in [0, "+strconv.Itoa(MaxPageSize)+"]")
	}
	if len(p.After) > 1024 {
		return Invalid("page.After", "longer than 1024 bytes")
	}
	return nil
}

// Size returns the page size p asks for.
func (p PageRequest) Size() int {
	if p.Limit == 0 {
		return DefaultPageSize
	}
	return p.Limit
}

// InvocationPage is one page of a Browser listing.
type InvocationPage struct {
	Invocations []InvocationSummary
	// Next is the cursor of the following page; empty on the last page.
	Next Cursor
}

// InvocationSummary is what a listing shows of an invocation.
type InvocationSummary struct {
	ID InvocationID
	// Task is the invocation's task; zero for an id with history only.
	Task TaskID
	// Workflow is the workflow the invocation runs in; zero for an id
	// with history only.
	Workflow WorkflowIdentity
	// ParentInvocationID is the invocation that called it; empty for none.
	ParentInvocationID InvocationID
	// Status is the current status record.
	Status StatusRecord
	// RunnerContextID is the runner context of the current status record.
	RunnerContextID string
	// ChangedAt is the time of the current status record's history entry
	// (InvocationHistory.Timestamp): what listings order and filter by.
	ChangedAt time.Time
}

// StatusCount is one row of CountInvocations.
type StatusCount struct {
	// Task is empty unless counted per task; an id with history only
	// counts under the empty task.
	Task   TaskID
	Status Status
	Count  int64
}
