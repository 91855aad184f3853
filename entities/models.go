package entities

// Sizes of identifier columns, in bytes.
const (
	IDSize     = 255 // invocation ids, runner ids, task keys, data keys, app ids
	CallSize   = 512 // call keys: a task key, ":" and an args id
	StatusSize = 32  // status names
)

// Result is a row of state_backend_results.
type Result struct {
	InvocationID Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	ResultData   Blob `gorm:"column:result_data;not null"`
}

// Exception is a row of state_backend_exceptions.
type Exception struct {
	InvocationID  Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	ExceptionData Blob `gorm:"column:exception_data;not null"`
}

// Invocation is a row of state_backend_invocations. Optional ids are stored
// as "" (never NULL) so equality filters need no NULL handling.
type Invocation struct {
	InvocationID        Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	CallIDKey           Key  `gorm:"column:call_id_key;not null;size:512"`
	TaskIDKey           Key  `gorm:"column:task_id_key;not null;size:255"`
	ArgumentsID         Key  `gorm:"column:arguments_id;not null;size:255"`
	SerializedArguments Text `gorm:"column:serialized_arguments;not null"`
	ParentInvocationID  Key  `gorm:"column:parent_invocation_id;not null;size:255;index:,composite:parent"`
	WorkflowID          Key  `gorm:"column:workflow_id;not null;size:255;index:,composite:workflow"`
	WorkflowTypeKey     Key  `gorm:"column:workflow_type_key;not null;size:255;index:,composite:workflow_type"`
	ParentWorkflowID    Key  `gorm:"column:parent_workflow_id;not null;size:255;index:,composite:parent_workflow"`
}

// RunnerContext is a row of state_backend_runner_contexts. ParentCtxID is ""
// for a root runner.
type RunnerContext struct {
	RunnerID    Key   `gorm:"column:runner_id;primaryKey;size:255"`
	RunnerCls   Key   `gorm:"column:runner_cls;not null;size:255"`
	ParentCtxID Key   `gorm:"column:parent_ctx_id;not null;size:255"`
	PID         int64 `gorm:"column:pid;not null"`
	Hostname    Key   `gorm:"column:hostname;not null;size:255"`
	ThreadID    int64 `gorm:"column:thread_id;not null"`
}

// History is a row of state_backend_history. ID orders records with equal
// timestamps by insertion; HistoryTimestamp is microseconds since the Unix
// epoch; (invocation, timestamp, status) is unique. The status_time index
// lets retention walk the records of one status (the final ones) in time
// order.
type History struct {
	ID               Serial `gorm:"column:id;primaryKey;autoIncrement;index:,composite:time,priority:2;index:,composite:status_time,priority:3"`
	InvocationID     Key    `gorm:"column:invocation_id;not null;size:255;index:,unique,composite:entry,priority:1"`
	HistoryTimestamp int64  `gorm:"column:history_timestamp;not null;index:,unique,composite:entry,priority:2;index:,composite:time,priority:1;index:,composite:status_time,priority:2"`
	HistoryStatus    Key    `gorm:"column:history_status;not null;size:32;index:,unique,composite:entry,priority:3;index:,composite:status_time,priority:1"`
	HistoryJSON      Text   `gorm:"column:history_json;not null"`
}

// Workflow is a row of state_backend_workflows. ParentWorkflowID is "" for a
// top-level workflow, as pynenc's SQLite state backend writes it.
type Workflow struct {
	WorkflowID       Key `gorm:"column:workflow_id;primaryKey;size:255"`
	WorkflowTypeKey  Key `gorm:"column:workflow_type_key;not null;size:255;index:,composite:type"`
	ParentWorkflowID Key `gorm:"column:parent_workflow_id;not null;size:255;index:,composite:parent"`
}

// AppInfo is a row of state_backend_app_info.
type AppInfo struct {
	AppID       Key  `gorm:"column:app_id;primaryKey;size:255"`
	AppInfoJSON Text `gorm:"column:app_info_json;not null"`
}

// WorkflowData is a row of state_backend_workflow_data.
type WorkflowData struct {
	WorkflowID Key  `gorm:"column:workflow_id;primaryKey;size:255"`
	DataKey    Key  `gorm:"column:data_key;primaryKey;size:255"`
	DataValue  Blob `gorm:"column:data_value;not null"`
}

// WorkflowSubInvocation is a row of state_backend_workflow_sub_invocations.
type WorkflowSubInvocation struct {
	ParentWorkflowID Key `gorm:"column:parent_workflow_id;primaryKey;size:255"`
	SubInvocationID  Key `gorm:"column:sub_invocation_id;primaryKey;size:255"`
}

// InvocationStatus is a row of state_backend_invocation_status: the
// current status of one invocation, its last history record by timestamp
// (then insertion), kept by the database itself (triggers on the history
// and invocations tables, see package migrations) in the transaction that
// writes the record. HistoryID is that record's id (0 for an invocation
// stored before any history: Status is then ""); TaskIDKey is copied from
// the invocation ("" for an id with history only). Not a table of
// pynenc's: it is derived from the history and rebuilt from it.
type InvocationStatus struct {
	InvocationID    Key   `gorm:"column:invocation_id;primaryKey;size:255;index:,composite:status_changed,priority:3;index:,composite:task_status_changed,priority:4"`
	TaskIDKey       Key   `gorm:"column:task_id_key;not null;size:255;index:,composite:task_status_changed,priority:1"`
	Status          Key   `gorm:"column:status;not null;size:32;index:,composite:status_changed,priority:1;index:,composite:task_status_changed,priority:2"`
	StatusTimestamp int64 `gorm:"column:status_timestamp;not null;index:,composite:status_changed,priority:2;index:,composite:task_status_changed,priority:3"`
	HistoryID       int64 `gorm:"column:history_id;not null"`
	RunnerContextID Key   `gorm:"column:runner_context_id;not null;size:255"`
}

// Change is a row of state_backend_changes: one committed write, as the
// change feed delivers it (state.Watcher), appended by the database itself
// (triggers on the history, results, exceptions and workflows tables, see
// package migrations) in the transaction of the write. ID orders the
// changes; Kind is a state.ChangeKind; InvocationID is the invocation (a
// workflow run's id for a workflow run); Status and StatusTimestamp are the
// history record's ("" and 0 for other kinds); RecordedAt is the
// database's clock at the write, in microseconds since the Unix epoch, by
// which retention deletes old changes. Not a table of pynenc's.
type Change struct {
	ID              Serial `gorm:"column:id;primaryKey;autoIncrement"`
	Kind            Key    `gorm:"column:kind;not null;size:16"`
	InvocationID    Key    `gorm:"column:invocation_id;not null;size:255"`
	Status          Key    `gorm:"column:status;not null;size:32"`
	StatusTimestamp int64  `gorm:"column:status_timestamp;not null"`
	RecordedAt      int64  `gorm:"column:recorded_at;not null"`
}

// Lease is a row of state_backend_leases: a named lock held by one holder
// until ExpiresAt (microseconds since the Unix epoch), for databases
// without advisory locks. Not a table of pynenc's.
type Lease struct {
	Name      Key   `gorm:"column:name;primaryKey;size:255"`
	Holder    Key   `gorm:"column:holder;not null;size:255"`
	ExpiresAt int64 `gorm:"column:expires_at;not null"`
}

// Migration is a row of state_backend_migrations: one applied schema
// migration. ID is "<4-digit version>_<name>"; MinCompatible is the oldest
// schema version a library must know to use the database once the
// migration is applied; AppliedAt is microseconds since the Unix epoch.
// Not a table of pynenc's.
type Migration struct {
	ID            Key   `gorm:"column:id;primaryKey;size:255"`
	MinCompatible int64 `gorm:"column:min_compatible;not null;default:1"`
	AppliedAt     int64 `gorm:"column:applied_at;not null;default:0"`
}

// All returns one value of every model that holds the app's data, in
// creation order: the tables Purge empties. The bookkeeping tables (Lease,
// Migration) are not among them.
func All() []any {
	return []any{
		&Result{}, &Exception{}, &Invocation{}, &RunnerContext{}, &History{},
		&Workflow{}, &AppInfo{}, &WorkflowData{}, &WorkflowSubInvocation{},
	}
}

// Derived returns one value of each model whose rows the database derives
// from the data tables: the current status of each invocation, and the
// changes the writes made. Purge
// empties them with the data; a copy or an export leaves them out (the
// destination derives its own).
func Derived() []any {
	return []any{&InvocationStatus{}, &Change{}}
}

// Bookkeeping returns one value of each bookkeeping model: the leases and
// the migrations tables.
func Bookkeeping() []any {
	return []any{&Lease{}, &Migration{}}
}
