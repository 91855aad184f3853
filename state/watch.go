package state

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"time"
)

// ErrCursorExpired reports a change cursor older than the changes a
// backend still keeps: changes after it were deleted by retention (a
// prune), so a watch from it cannot promise to deliver every change. Start
// again from a cursor the backend still keeps (an empty cursor is its
// oldest change) after reconciling what may have been missed.
var ErrCursorExpired = errors.New("change cursor expired")

// Watcher is implemented by backends that stream the changes committed to
// them: a monitor, a workflow waiting on a child or an alerting hook
// follows the state as it changes instead of polling every invocation. It
// is optional; test for it with a type assertion (b.(state.Watcher)). The
// conformance suite's "watch" group checks every promise below for
// backends that implement it.
//
// # What a watch delivers
//
// A change is one committed write: a history record added, a result or an
// exception stored (each store, the first or a replacement), or a workflow
// run stored for the first time. Each comes with a cursor. A watch started
// after a cursor delivers every change committed after the change that
// cursor came with, each exactly once, and the changes of one invocation
// (its history, result and exception) in the order they committed; a
// consumer that records the cursor of each change it has processed and
// resumes from it after a crash neither misses nor repeats a change. A
// change is delivered only once it is committed, and once every change
// that could precede it is known, so a transaction that stays open holds
// back the changes committed after it (on databases where several
// transactions write at once) until it ends.
//
// A watch that cannot keep this promise fails: a cursor the backend no
// longer keeps the changes after (retention deleted them) yields an error
// wrapping ErrCursorExpired; a cursor the backend did not make yields one
// wrapping ErrInvalidArgument.
type Watcher interface {
	// Watch returns the changes committed after req.After that match
	// req.Filter, oldest first. Without req.Follow the sequence ends when
	// it has delivered every change committed when the call started;
	// with it, the sequence waits for new changes until ctx ends (then it
	// yields ctx's error) or the consumer stops iterating. An error is
	// yielded once, with a zero Change, and ends the sequence. A consumer
	// that stops iterating releases everything the watch holds.
	Watch(ctx context.Context, req WatchRequest) iter.Seq2[Change, error]

	// LatestChange returns the cursor of the newest committed change, or
	// the empty cursor when there is none: a watch after it delivers only
	// what commits from now on.
	LatestChange(ctx context.Context) (ChangeCursor, error)
}

// ChangeCursor is an opaque position in a backend's changes, returned with
// each Change and by Watcher.LatestChange. The empty cursor is the
// position before the oldest change the backend keeps.
type ChangeCursor string

// ChangeKind says what a change wrote.
type ChangeKind string

// The kinds of change.
const (
	// ChangeHistory is a history record added (AddHistory, ImportHistory).
	ChangeHistory ChangeKind = "history"
	// ChangeResult is a result stored (SetResult).
	ChangeResult ChangeKind = "result"
	// ChangeException is an exception stored (SetException).
	ChangeException ChangeKind = "exception"
	// ChangeWorkflowRun is a workflow run stored for the first time
	// (StoreWorkflowRun).
	ChangeWorkflowRun ChangeKind = "workflow_run"
)

// Valid reports whether k is one of the kinds above.
func (k ChangeKind) Valid() bool {
	switch k {
	case ChangeHistory, ChangeResult, ChangeException, ChangeWorkflowRun:
		return true
	}
	return false
}

// Change is one committed change.
type Change struct {
	// Cursor is the position of this change: a watch after it starts with
	// the next change.
	Cursor ChangeCursor
	Kind   ChangeKind
	// InvocationID is the invocation the change is about; for a workflow
	// run, the workflow's id.
	InvocationID InvocationID
	// Task is the invocation's task, or the workflow run's type, as stored
	// when the change is read; zero when the invocation is not stored.
	Task TaskID
	// WorkflowID is the workflow run the invocation runs in, as stored
	// when the change is read (a workflow run's own id for a workflow
	// run); empty when the invocation is not stored.
	WorkflowID InvocationID
	// Status and Timestamp are the history record's (ChangeHistory only;
	// zero otherwise).
	Status    Status
	Timestamp time.Time
}

// ChangeFilter selects changes. Zero fields select everything; set fields
// must all match.
type ChangeFilter struct {
	// Kinds selects changes of these kinds.
	Kinds []ChangeKind
	// Invocations selects changes of these invocations (or workflow runs,
	// by their id).
	Invocations []InvocationID
	// Tasks selects changes of invocations of these tasks, and of
	// workflow runs of these types.
	Tasks []TaskID
	// WorkflowID selects changes of the invocations that run in this
	// workflow run, and of the run itself.
	WorkflowID InvocationID
	// Statuses selects history records with one of these statuses (and so
	// only history records).
	Statuses []Status
}

// Validate reports whether f can be used. The error wraps
// ErrInvalidArgument.
func (f ChangeFilter) Validate() error {
	if len(f.Kinds) > maxFilterValues {
		return Invalid("filter.Kinds", "more than "+strconv.Itoa(maxFilterValues)+" kinds")
	}
	for i, k := range f.Kinds {
		if !k.Valid() {
			return Invalid("filter.Kinds["+strconv.Itoa(i)+"]", "unknown change kind "+quote(string(k)))
		}
	}
	if len(f.Invocations) > maxFilterValues {
		return Invalid("filter.Invocations", "more than "+strconv.Itoa(maxFilterValues)+" invocations")
	}
	for i, id := range f.Invocations {
		if err := id.Validate("filter.Invocations[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	if len(f.Tasks) > maxFilterValues {
		return Invalid("filter.Tasks", "more than "+strconv.Itoa(maxFilterValues)+" tasks")
	}
	for i, t := range f.Tasks {
		if err := t.Validate("filter.Tasks[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	if f.WorkflowID != "" {
		if err := f.WorkflowID.Validate("filter.WorkflowID"); err != nil {
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
	return nil
}

// Limits of a WatchRequest's poll interval.
const (
	// MinPollInterval is the shortest poll interval a watch accepts.
	MinPollInterval = time.Millisecond
	// MaxPollInterval is the longest.
	MaxPollInterval = time.Hour
)

// WatchRequest asks a Watcher for changes.
type WatchRequest struct {
	// After is the cursor of the last change already processed; empty
	// starts before the oldest change the backend keeps.
	After ChangeCursor
	// Filter selects the changes delivered. Cursors move past the changes
	// it skips too: resuming from the last delivered change's cursor with
	// the same filter misses nothing it selects.
	Filter ChangeFilter
	// Follow keeps the watch open for changes committed after the call.
	Follow bool
	// PollInterval is how often a following watch looks for new changes
	// when nothing wakes it sooner (backends that are told of commits,
	// such as Postgres with LISTEN, look at once); 0 is the backend's
	// default. It bounds the delay between a commit and its delivery.
	PollInterval time.Duration
}

// Validate reports whether r can be used. The error wraps
// ErrInvalidArgument. The cursor is checked by the backend that made it.
func (r WatchRequest) Validate() error {
	if len(r.After) > 1024 {
		return Invalid("req.After", "longer than 1024 bytes")
	}
	if r.PollInterval != 0 && (r.PollInterval < MinPollInterval || r.PollInterval > MaxPollInterval) {
		return Invalid("req.PollInterval", r.PollInterval.String()+" is not in ["+MinPollInterval.String()+", "+MaxPollInterval.String()+"]")
	}
	return r.Filter.Validate()
}
