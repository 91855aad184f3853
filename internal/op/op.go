// Package op names the backend's operations: each public method of the
// store, and the internal work that logs and metrics speak of (opening,
// group commit, leases). An operation's name is derived from
// its value here, and nowhere else.
package op

// Op is one operation.
type Op uint8

// The store's methods, in the order of the state.Backend contract, then
// its optional capabilities.
const (
	StoreAppInfo Op = iota
	AppInfo
	DiscoverAppInfos
	UpsertInvocations
	Invocation
	Invocations
	ChildInvocations
	InvocationIDsByWorkflow
	AddHistory
	History
	InvocationIDsInTimeRange
	HistoryInTimeRange
	SetResult
	Result
	SetException
	Exception
	StoreWorkflowRun
	WorkflowTypes
	WorkflowRuns
	WorkflowRunsOfType
	SetWorkflowData
	WorkflowData
	StoreWorkflowSubInvocation
	WorkflowSubInvocations
	StoreRunnerContext
	RunnerContext
	RunnerContexts
	MatchRunnerContexts
	Purge
	Prune
	ImportHistory
	ListInvocations
	CountInvocations
	StuckInvocations
	EstimateInvocations
	Watch
	LatestChange
	CountInvocationsUpTo

	// NumPublic counts the operations above: the store's methods, which
	// telemetry records as calls.
	NumPublic
)

// Internal work, named in logs and in the retries metric. (Migrations name
// their own, "Migrate": package migrations stands apart from the store.)
const (
	Open Op = NumPublic + iota
	GroupCommit
	Lease

	numOps
)

// info is what this package knows of each operation.
var info = [numOps]struct {
	name string
	// model is the entity whose table the operation reads or writes
	// (OpenTelemetry's db.collection.name), "" when it touches several.
	model string
}{
	StoreAppInfo:               {"StoreAppInfo", "AppInfo"},
	AppInfo:                    {"AppInfo", "AppInfo"},
	DiscoverAppInfos:           {"DiscoverAppInfos", ""},
	UpsertInvocations:          {"UpsertInvocations", "Invocation"},
	Invocation:                 {"Invocation", "Invocation"},
	Invocations:                {"Invocations", "Invocation"},
	ChildInvocations:           {"ChildInvocations", "Invocation"},
	InvocationIDsByWorkflow:    {"InvocationIDsByWorkflow", "Invocation"},
	AddHistory:                 {"AddHistory", "History"},
	History:                    {"History", "History"},
	InvocationIDsInTimeRange:   {"InvocationIDsInTimeRange", "History"},
	HistoryInTimeRange:         {"HistoryInTimeRange", "History"},
	SetResult:                  {"SetResult", "Result"},
	Result:                     {"Result", "Result"},
	SetException:               {"SetException", "Exception"},
	Exception:                  {"Exception", "Exception"},
	StoreWorkflowRun:           {"StoreWorkflowRun", "Workflow"},
	WorkflowTypes:              {"WorkflowTypes", "Workflow"},
	WorkflowRuns:               {"WorkflowRuns", "Workflow"},
	WorkflowRunsOfType:         {"WorkflowRunsOfType", "Workflow"},
	SetWorkflowData:            {"SetWorkflowData", "WorkflowData"},
	WorkflowData:               {"WorkflowData", "WorkflowData"},
	StoreWorkflowSubInvocation: {"StoreWorkflowSubInvocation", "WorkflowSubInvocation"},
	WorkflowSubInvocations:     {"WorkflowSubInvocations", "WorkflowSubInvocation"},
	StoreRunnerContext:         {"StoreRunnerContext", "RunnerContext"},
	RunnerContext:              {"RunnerContext", "RunnerContext"},
	RunnerContexts:             {"RunnerContexts", "RunnerContext"},
	MatchRunnerContexts:        {"MatchRunnerContexts", "RunnerContext"},
	Purge:                      {"Purge", ""},
	Prune:                      {"Prune", ""},
	ImportHistory:              {"ImportHistory", "History"},
	ListInvocations:            {"ListInvocations", "InvocationStatus"},
	CountInvocations:           {"CountInvocations", "InvocationStatus"},
	StuckInvocations:           {"StuckInvocations", "InvocationStatus"},
	EstimateInvocations:        {"EstimateInvocations", "InvocationStatus"},
	Watch:                      {"Watch", "Change"},
	LatestChange:               {"LatestChange", "Change"},
	CountInvocationsUpTo:       {"CountInvocationsUpTo", "InvocationStatus"},

	Open:        {"Open", ""},
	GroupCommit: {"group commit", ""},
	Lease:       {"lease", "Lease"},
}

// String returns the operation's name: the store method's for public
// operations ("AddHistory"), as errors, logs and telemetry give it.
func (o Op) String() string {
	if o >= numOps {
		return "unknown"
	}
	return info[o].name
}

// Model returns the entity whose table the operation uses ("History"), ""
// when it uses several.
func (o Op) Model() string {
	if o >= numOps {
		return ""
	}
	return info[o].model
}

// Keyed reports whether o reads or writes a few rows by their keys (one
// invocation's history, a result, a runner context): statements that end
// in microseconds unless they wait for a lock. A database whose driver
// pays for cancellation runs them without it (see
// dialect.Dialect.CostlyCancel). AddHistory counts only for one record of
// one invocation, which the engine decides by its rows.
func (o Op) Keyed() bool {
	switch o {
	case StoreAppInfo, AppInfo, Invocation, AddHistory, History, SetResult, Result, SetException, Exception,
		StoreWorkflowRun, SetWorkflowData, WorkflowData, StoreWorkflowSubInvocation,
		StoreRunnerContext, RunnerContext, LatestChange:
		return true
	}
	return false
}

// Public reports whether o is a method of the store.
func (o Op) Public() bool { return o < NumPublic }

// All returns the public operations, in order.
func All() []Op {
	out := make([]Op, NumPublic)
	for i := range out {
		out[i] = Op(i)
	}
	return out
}
