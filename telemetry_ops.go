package statebackend

// operation is a public call of the backend, as telemetry names it.
type operation uint8

const (
	opStoreAppInfo operation = iota
	opAppInfo
	opDiscoverAppInfos
	opUpsertInvocations
	opInvocation
	opInvocations
	opChildInvocations
	opInvocationIDsByWorkflow
	opAddHistory
	opHistory
	opInvocationIDsInTimeRange
	opHistoryInTimeRange
	opSetResult
	opResult
	opSetException
	opException
	opStoreWorkflowRun
	opWorkflowTypes
	opWorkflowRuns
	opWorkflowRunsOfType
	opSetWorkflowData
	opWorkflowData
	opStoreWorkflowSubInvocation
	opWorkflowSubInvocations
	opStoreRunnerContext
	opRunnerContext
	opRunnerContexts
	opMatchRunnerContexts
	opPurge
	opPrune
	opImportHistory
	numOperations
)

// operations gives each operation its name (the Backend method's, which
// is also db.operation.name) and the entity whose table it reads or writes
// (db.collection.name), "" when it touches several tables.
var operations = [numOperations]struct{ name, model string }{
	opStoreAppInfo:               {"StoreAppInfo", "AppInfo"},
	opAppInfo:                    {"AppInfo", "AppInfo"},
	opDiscoverAppInfos:           {"DiscoverAppInfos", ""},
	opUpsertInvocations:          {"UpsertInvocations", "Invocation"},
	opInvocation:                 {"Invocation", "Invocation"},
	opInvocations:                {"Invocations", "Invocation"},
	opChildInvocations:           {"ChildInvocations", "Invocation"},
	opInvocationIDsByWorkflow:    {"InvocationIDsByWorkflow", "Invocation"},
	opAddHistory:                 {"AddHistory", "History"},
	opHistory:                    {"History", "History"},
	opInvocationIDsInTimeRange:   {"InvocationIDsInTimeRange", "History"},
	opHistoryInTimeRange:         {"HistoryInTimeRange", "History"},
	opSetResult:                  {"SetResult", "Result"},
	opResult:                     {"Result", "Result"},
	opSetException:               {"SetException", "Exception"},
	opException:                  {"Exception", "Exception"},
	opStoreWorkflowRun:           {"StoreWorkflowRun", "Workflow"},
	opWorkflowTypes:              {"WorkflowTypes", "Workflow"},
	opWorkflowRuns:               {"WorkflowRuns", "Workflow"},
	opWorkflowRunsOfType:         {"WorkflowRunsOfType", "Workflow"},
	opSetWorkflowData:            {"SetWorkflowData", "WorkflowData"},
	opWorkflowData:               {"WorkflowData", "WorkflowData"},
	opStoreWorkflowSubInvocation: {"StoreWorkflowSubInvocation", "WorkflowSubInvocation"},
	opWorkflowSubInvocations:     {"WorkflowSubInvocations", "WorkflowSubInvocation"},
	opStoreRunnerContext:         {"StoreRunnerContext", "RunnerContext"},
	opRunnerContext:              {"RunnerContext", "RunnerContext"},
	opRunnerContexts:             {"RunnerContexts", "RunnerContext"},
	opMatchRunnerContexts:        {"MatchRunnerContexts", "RunnerContext"},
	opPurge:                      {"Purge", ""},
	opPrune:                      {"Prune", ""},
	opImportHistory:              {"ImportHistory", "History"},
}
