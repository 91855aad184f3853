package state

// Status is the status of an invocation, as pynenc names it.
type Status string

// The statuses pynenc defines. A backend stores any of them; the transition
// rules between them are the orchestrator's business, not the backend's.
const (
	StatusRegistered                 Status = "registered"
	StatusConcurrencyControlled      Status = "concurrency_controlled"
	StatusConcurrencyControlledFinal Status = "concurrency_controlled_final"
	StatusRerouted                   Status = "rerouted"
	StatusPending                    Status = "pending"
	StatusPendingRecovery            Status = "pending_recovery"
	StatusRunning                    Status = "running"
	StatusRunningRecovery            Status = "running_recovery"
	StatusPaused                     Status = "paused"
	StatusResumed                    Status = "resumed"
	StatusKilled                     Status = "killed"
	StatusSuccess                    Status = "success"
	StatusFailed                     Status = "failed"
	StatusRetry                      Status = "retry"
)

// Statuses lists every valid status.
func Statuses() []Status {
	return []Status{
		StatusRegistered, StatusConcurrencyControlled, StatusConcurrencyControlledFinal,
		StatusRerouted, StatusPending, StatusPendingRecovery, StatusRunning,
		StatusRunningRecovery, StatusPaused, StatusResumed, StatusKilled,
		StatusSuccess, StatusFailed, StatusRetry,
	}
}

// Valid reports whether s is one of pynenc's statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusRegistered, StatusConcurrencyControlled, StatusConcurrencyControlledFinal,
		StatusRerouted, StatusPending, StatusPendingRecovery, StatusRunning,
		StatusRunningRecovery, StatusPaused, StatusResumed, StatusKilled,
		StatusSuccess, StatusFailed, StatusRetry:
		return true
	}
	return false
}

// Final reports whether s ends an invocation (success, failed or
// concurrency_controlled_final).
func (s Status) Final() bool {
	return s == StatusSuccess || s == StatusFailed || s == StatusConcurrencyControlledFinal
}
