package statebackend

import "github.com/taskstate/statebackend/state"

// The contract is declared in package state, which imports no database
// driver (so the conformance suite and third-party backends need none); the
// names below make the root package the one import most users need. Each is
// the identical type or value, not a copy.

// Backend stores the state of a pynenc application. See state.Backend for
// the full contract.
type Backend = state.Backend

// Domain types; see package state for their documentation.
type (
	InvocationID      = state.InvocationID
	TaskID            = state.TaskID
	CallID            = state.CallID
	Invocation        = state.Invocation
	WorkflowIdentity  = state.WorkflowIdentity
	WorkflowFilter    = state.WorkflowFilter
	Status            = state.Status
	StatusRecord      = state.StatusRecord
	InvocationHistory = state.InvocationHistory
	RunnerContext     = state.RunnerContext
	AppInfo           = state.AppInfo
)

// Retention; see state.Pruner. The backend Open returns implements Pruner.
type (
	Pruner       = state.Pruner
	PruneOptions = state.PruneOptions
	PruneStats   = state.PruneStats
)

// Defaults of PruneOptions; see state.DefaultPruneBatchSize.
const (
	DefaultPruneBatchSize    = state.DefaultPruneBatchSize
	DefaultPruneBatchTimeout = state.DefaultPruneBatchTimeout
)

// HistoryImporter is the optional interface of backends that store many
// history records in one call; see state.HistoryImporter. The backend Open
// returns implements it.
type HistoryImporter = state.HistoryImporter

// Statuses of an invocation; see state.Status.
const (
	StatusRegistered                 = state.StatusRegistered
	StatusConcurrencyControlled      = state.StatusConcurrencyControlled
	StatusConcurrencyControlledFinal = state.StatusConcurrencyControlledFinal
	StatusRerouted                   = state.StatusRerouted
	StatusPending                    = state.StatusPending
	StatusPendingRecovery            = state.StatusPendingRecovery
	StatusRunning                    = state.StatusRunning
	StatusRunningRecovery            = state.StatusRunningRecovery
	StatusPaused                     = state.StatusPaused
	StatusResumed                    = state.StatusResumed
	StatusKilled                     = state.StatusKilled
	StatusSuccess                    = state.StatusSuccess
	StatusFailed                     = state.StatusFailed
	StatusRetry                      = state.StatusRetry
)

// NoArgs is the ArgsID of a call without arguments.
const NoArgs = state.NoArgs

// MaxIDLen is the longest identifier accepted, in bytes.
const MaxIDLen = state.MaxIDLen

// Sentinel errors; test for them with errors.Is.
var (
	ErrNotFound        = state.ErrNotFound
	ErrInvalidArgument = state.ErrInvalidArgument
	ErrClosed          = state.ErrClosed
	ErrReadOnly        = state.ErrReadOnly
	ErrCursorExpired   = state.ErrCursorExpired
)

// ParseTaskID parses a task key ("module.func"), splitting on the last dot.
func ParseTaskID(key string) (TaskID, error) { return state.ParseTaskID(key) }

// ParseCallID parses a call key ("module.func:args_id"), splitting on the
// last colon.
func ParseCallID(key string) (CallID, error) { return state.ParseCallID(key) }
