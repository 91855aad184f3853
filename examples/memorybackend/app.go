package memorybackend

import (
	"github.com/taskstate/statebackend/state"
)

// app holds the data of one app id: one field per table of the SQL
// backends. Everything stored here is a private copy; nothing aliases a
// caller's memory.
type app struct {
	appInfos    map[string][]byte // app id -> AppInfo as JSON
	invocations map[state.InvocationID]state.Invocation
	history     *historyTable
	results     map[state.InvocationID][]byte
	exceptions  map[state.InvocationID][]byte
	workflows   map[state.InvocationID]state.WorkflowIdentity
	data        map[workflowDataKey][]byte
	subInvs     map[state.InvocationID]map[state.InvocationID]struct{}
	runners     map[string]runnerRow
	changes     *changeLog // what the Watcher reports
}

// workflowDataKey addresses one workflow data value.
type workflowDataKey struct {
	workflowID state.InvocationID
	key        string
}

func newApp() *app {
	a := new(app)
	a.reset()
	return a
}

// reset empties every table. It works in place because every Backend of the
// app holds a pointer to it.
func (a *app) reset() {
	history := newHistoryTable()
	if a.history != nil {
		// Insertion sequence numbers keep growing across a purge, so an
		// iteration that straddles one never sees a new record sort before
		// its cursor.
		history.nextSeq = a.history.nextSeq
	}
	changes := a.changes
	if changes == nil {
		changes = newChangeLog()
	} else {
		// The log is emptied in place, keeping its sequence (and the
		// watches waiting on it, which it wakes): a cursor from before the
		// purge is expired, one made after it names a new change.
		changes.clear()
	}
	*a = app{
		appInfos:    make(map[string][]byte),
		invocations: make(map[state.InvocationID]state.Invocation),
		history:     history,
		results:     make(map[state.InvocationID][]byte),
		exceptions:  make(map[state.InvocationID][]byte),
		workflows:   make(map[state.InvocationID]state.WorkflowIdentity),
		data:        make(map[workflowDataKey][]byte),
		subInvs:     make(map[state.InvocationID]map[state.InvocationID]struct{}),
		runners:     make(map[string]runnerRow),
		changes:     changes,
	}
}
