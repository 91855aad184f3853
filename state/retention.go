package state

import (
	"context"
	"fmt"
	"time"
)

// DefaultPruneBatchSize is the number of invocations a prune deletes per
// transaction when PruneOptions.BatchSize is 0.
const DefaultPruneBatchSize = 1000

// DefaultPruneBatchTimeout bounds one batch of a prune when
// PruneOptions.BatchTimeout is 0.
const DefaultPruneBatchTimeout = 30 * time.Second

// Pruner is implemented by backends that can delete finished work older
// than a cutoff: retention. It is optional; test for it with a type
// assertion (b.(state.Pruner)). The conformance suite's "retention" group
// checks every promise below for backends that implement it.
//
// # What is deleted
//
// The unit of deletion is a top-level workflow run with everything under
// it: its sub-workflows (at any depth), every invocation in any of them,
// their history, results and exceptions, the workflow runs, the workflow
// data and the sub-invocation sets of all those workflows. An invocation
// is in the workflow its Workflow.WorkflowID names; a sub-workflow is under
// the workflow its ParentWorkflowID names. A top-level invocation outside
// any other workflow is the root of its own unit.
//
// A unit is deleted only when it is finished and old: every invocation in
// it has a final status (see Status.Final) as its last history record (the
// latest by timestamp, then by insertion), and none of its history records
// is at or after the cutoff, now - OlderThan. Anything else is live and
// kept whole, children included: an invocation with no history yet, a
// killed invocation (pynenc may recover and run it again), a finished
// parent with a child still running, a finished child in a running parent.
//
// History, results and exceptions of an id that was never stored as an
// invocation are a unit of their own, under the same rule: deleted when
// the id's last history record is final and older than the cutoff.
// (pynenc stores an invocation before its status, so such records are
// leftovers.) Results, exceptions, workflow runs and workflow data that
// belong to no unit with history are never pruned, nor are app info and
// runner contexts; Purge removes everything.
//
// # How
//
// A prune deletes whole units in batches: each batch is one short
// transaction holding at most BatchSize invocations, whatever the shape of
// the units, and checks again that its units are finished before it
// deletes from them. A unit larger than a batch is deleted over several,
// bottom-up: the members of each workflow and its sub-workflows before the
// invocation that starts it and its run, data and sub-invocation set, so
// the root goes last. A prune that stops half way (an error, a cancelled
// context, a killed process) leaves every unit either whole or, for a
// unit split over batches, a finished remainder still linked to its root,
// which the next prune finds and finishes. A batch that exceeds
// BatchTimeout is retried at half the size.
//
// A prune ends. It deletes what was prunable when it started: units found
// through final records written before its start. Records written during
// it (an import or a copy beside it, a writer whose clock is behind), old
// as they may be, are left to the next prune, so a prune never chases a
// writer. A unit it deletes goes whole, with whatever was added to it.
//
// Prune returns what it deleted (with DryRun, what it would delete);
// on error, what it deleted before the error. Invalid options fail with
// ErrInvalidArgument and delete nothing.
type Pruner interface {
	Prune(ctx context.Context, opts PruneOptions) (PruneStats, error)
}

// PruneOptions configures Pruner.Prune.
type PruneOptions struct {
	// OlderThan is the retention: units whose newest history record is at
	// least this old are deleted. Required, greater than 0.
	OlderThan time.Duration
	// BatchSize bounds the invocations deleted in one transaction; 0 means
	// DefaultPruneBatchSize.
	BatchSize int
	// BatchTimeout bounds one batch; a batch that exceeds it is rolled back
	// and retried at half the size. 0 means DefaultPruneBatchTimeout.
	BatchTimeout time.Duration
	// DryRun counts what would be deleted, and deletes nothing.
	DryRun bool
	// Progress, when set, is called after each batch with the totals so
	// far, from the goroutine that called Prune: once per batch, so the
	// difference between two calls is what one batch deleted.
	Progress func(PruneStats)
}

// Validate reports whether opts can be used, naming the field at fault.
func (opts PruneOptions) Validate() error {
	if opts.OlderThan <= 0 {
		return Invalid("OlderThan", fmt.Sprintf("must be greater than 0, got %v", opts.OlderThan))
	}
	if opts.BatchSize < 0 {
		return Invalid("BatchSize", fmt.Sprintf("must not be negative, got %d", opts.BatchSize))
	}
	if opts.BatchTimeout < 0 {
		return Invalid("BatchTimeout", fmt.Sprintf("must not be negative, got %v", opts.BatchTimeout))
	}
	return nil
}

// PruneStats counts what a prune deleted (or, for a dry run, would
// delete), by table.
type PruneStats struct {
	// Units is the number of workflow runs (with everything under them)
	// and standalone invocations deleted.
	Units int64
	// Invocations, History, Results, Exceptions, WorkflowRuns,
	// WorkflowData and SubInvocations count deleted rows of each table
	// (SubInvocations: entries of sub-invocation sets).
	Invocations    int64
	History        int64
	Results        int64
	Exceptions     int64
	WorkflowRuns   int64
	WorkflowData   int64
	SubInvocations int64
	// Kept is the number of units with a history record older than the
	// cutoff, written before the prune started, that the prune kept
	// because part of them is live or recent (a workflow running for 50
	// days with nothing in it finished included); units with only recent
	// history are not counted. It is counted at the end of the prune, so
	// Progress does not report it.
	Kept int64
	// Changes is the number of changes deleted from a Watcher's feed:
	// those recorded before the cutoff. A watch after a cursor older than
	// the newest of them then fails with ErrCursorExpired.
	Changes int64
	// Batches is the number of batches committed (or, for a dry run,
	// counted).
	Batches int64
}

// Add returns the sum of s and o.
func (s PruneStats) Add(o PruneStats) PruneStats {
	return PruneStats{
		Units: s.Units + o.Units, Invocations: s.Invocations + o.Invocations, History: s.History + o.History,
		Results: s.Results + o.Results, Exceptions: s.Exceptions + o.Exceptions, WorkflowRuns: s.WorkflowRuns + o.WorkflowRuns,
		WorkflowData: s.WorkflowData + o.WorkflowData, SubInvocations: s.SubInvocations + o.SubInvocations,
		Kept: s.Kept + o.Kept, Batches: s.Batches + o.Batches,
	}
}
