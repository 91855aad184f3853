package state

import (
	"context"
	"iter"
	"time"
)

// Backend stores the state of a pynenc application: invocations, their
// status history, results, exceptions, runner contexts, workflow runs and
// workflow data, and app info.
//
// Every method takes a context first and returns the context's error when it
// is cancelled. Invalid input fails with an error wrapping ErrInvalidArgument
// and writes nothing; a missing entity fails with ErrNotFound; any call after
// Close fails with ErrClosed. Implementations are safe for concurrent use.
// The conformance package checks every promise documented here.
type Backend interface {
	// StoreAppInfo stores info under info.AppID, replacing what was there.
	StoreAppInfo(ctx context.Context, info AppInfo) error
	// AppInfo returns the app info stored under appID, or ErrNotFound.
	AppInfo(ctx context.Context, appID string) (AppInfo, error)
	// DiscoverAppInfos returns the app infos of every app in the backing
	// store (all app ids sharing the database), keyed by app id.
	DiscoverAppInfos(ctx context.Context) (map[string]AppInfo, error)

	// UpsertInvocations stores invs atomically: all of them or none. An
	// existing invocation is overwritten; when an id appears twice in invs
	// the last one wins.
	UpsertInvocations(ctx context.Context, invs []Invocation) error
	// Invocation returns the invocation id, or ErrNotFound.
	Invocation(ctx context.Context, id InvocationID) (Invocation, error)
	// Invocations returns the stored invocations among ids, keyed by id;
	// unknown ids are absent from the map (no error).
	Invocations(ctx context.Context, ids []InvocationID) (map[InvocationID]Invocation, error)
	// ChildInvocations returns the ids of the invocations whose parent is
	// parent, in ascending id order.
	ChildInvocations(ctx context.Context, parent InvocationID) ([]InvocationID, error)
	// InvocationIDsByWorkflow returns the ids of the invocations matching f,
	// in ascending id order; the zero filter returns every invocation id.
	InvocationIDsByWorkflow(ctx context.Context, f WorkflowFilter) ([]InvocationID, error)

	// AddHistory adds the record h to the history of every invocation in
	// ids (h.InvocationID is ignored; each stored copy carries its own id),
	// atomically. The ids need not have been upserted. Writing the same
	// (invocation, timestamp, status) again replaces the earlier record.
	AddHistory(ctx context.Context, ids []InvocationID, h InvocationHistory) error
	// History returns the history of id in ascending timestamp order, equal
	// timestamps in insertion order; an unknown id has an empty history.
	History(ctx context.Context, id InvocationID) ([]InvocationHistory, error)
	// InvocationIDsInTimeRange yields, in batches of at most batchSize, the
	// ids of the invocations with a history record whose timestamp is in
	// [start, end] (both inclusive), in ascending id order, each id once.
	// Iteration stops at the first error, which is yielded with a nil batch.
	InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationID, error]
	// HistoryInTimeRange yields, in batches of at most batchSize, the history
	// records whose timestamp is in [start, end] (both inclusive), ascending
	// by timestamp, equal timestamps in insertion order. Records inserted
	// while iterating never make it skip or repeat a record that existed
	// when it began.
	HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationHistory, error]

	// SetResult stores the serialized result of id byte for byte,
	// replacing any earlier one.
	SetResult(ctx context.Context, id InvocationID, data []byte) error
	// Result returns the result of id, or ErrNotFound.
	Result(ctx context.Context, id InvocationID) ([]byte, error)
	// SetException stores the serialized exception of id byte for byte,
	// replacing any earlier one.
	SetException(ctx context.Context, id InvocationID, data []byte) error
	// Exception returns the exception of id, or ErrNotFound.
	Exception(ctx context.Context, id InvocationID) ([]byte, error)

	// StoreWorkflowRun records a workflow run; storing it again replaces it.
	StoreWorkflowRun(ctx context.Context, wf WorkflowIdentity) error
	// WorkflowTypes returns each distinct workflow type with a stored run,
	// in ascending key order.
	WorkflowTypes(ctx context.Context) ([]TaskID, error)
	// WorkflowRuns returns every stored run, in ascending workflow id order.
	WorkflowRuns(ctx context.Context) ([]WorkflowIdentity, error)
	// WorkflowRunsOfType returns the runs of type typ, in ascending workflow
	// id order.
	WorkflowRunsOfType(ctx context.Context, typ TaskID) ([]WorkflowIdentity, error)
	// SetWorkflowData stores value under (workflowID, key), replacing any
	// earlier value.
	SetWorkflowData(ctx context.Context, workflowID InvocationID, key string, value []byte) error
	// WorkflowData returns the value under (workflowID, key), or ErrNotFound.
	WorkflowData(ctx context.Context, workflowID InvocationID, key string) ([]byte, error)
	// StoreWorkflowSubInvocation adds subInvocationID to the set of
	// sub-invocations of workflowID.
	StoreWorkflowSubInvocation(ctx context.Context, workflowID, subInvocationID InvocationID) error
	// WorkflowSubInvocations returns the sub-invocations of workflowID, in
	// ascending id order, each once.
	WorkflowSubInvocations(ctx context.Context, workflowID InvocationID) ([]InvocationID, error)

	// StoreRunnerContext stores rc and every ancestor in its parent chain,
	// replacing earlier versions.
	StoreRunnerContext(ctx context.Context, rc RunnerContext) error
	// RunnerContext returns the context of runnerID with its parent chain,
	// or ErrNotFound.
	RunnerContext(ctx context.Context, runnerID string) (RunnerContext, error)
	// RunnerContexts returns the stored contexts among runnerIDs, with their
	// parent chains, in the order of runnerIDs; unknown ids are skipped and
	// repeated ids returned once.
	RunnerContexts(ctx context.Context, runnerIDs []string) ([]RunnerContext, error)
	// MatchRunnerContexts returns the contexts whose runner id contains
	// substring, literally and case-sensitively ('%', '_' and '\' are
	// ordinary characters), in ascending runner id order.
	MatchRunnerContexts(ctx context.Context, substring string) ([]RunnerContext, error)

	// Purge deletes every record of this app (app info, runner contexts and
	// workflow data included). The tables stay, and so does what the
	// schema keeps about itself (its version). Other apps sharing the store
	// are untouched.
	Purge(ctx context.Context) error
	// Close releases the backend's resources. Later calls fail with
	// ErrClosed; closing twice is not an error.
	Close() error
}
