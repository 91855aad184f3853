package memorybackend

import (
	"sort"
	"time"

	"github.com/taskstate/statebackend/state"
)

// changeLog is an app's change feed: one entry per change the Watcher
// reports, appended under the store's write lock by the write that makes
// the change, so the order of the log is the order of the commits. A SQL
// backend keeps the same thing as a table written in the transaction of the
// change, numbered by a sequence.
type changeLog struct {
	// entries are the changes kept, ascending by seq.
	entries []changeEntry
	// lastSeq is the sequence number of the newest change ever appended,
	// kept or deleted; the next change gets lastSeq+1. It keeps growing
	// across a purge, so a cursor never names two changes.
	lastSeq uint64
	// deleted is the sequence number of the newest change deleted (by a
	// prune or a purge). Changes are deleted oldest first, so every change
	// up to it is gone and none after it: a cursor before it is expired.
	deleted uint64
	// wake is closed, and replaced, whenever the log changes: a following
	// watch waits on it.
	wake chan struct{}
}

// changeEntry is one change as written. The task and the workflow of a
// change are not kept: a watch reads them from the invocation (or the
// workflow run) as stored when it reads the change.
type changeEntry struct {
	seq uint64
	// at is when the change committed (by the process's monotonic clock):
	// what a prune's cutoff is compared with.
	at     time.Time
	kind   state.ChangeKind
	id     state.InvocationID
	status state.Status // history records only
	ts     time.Time    // history records only: the record's timestamp
}

func newChangeLog() *changeLog {
	return &changeLog{wake: make(chan struct{})}
}

// add appends a change. Callers hold the write lock.
func (l *changeLog) add(kind state.ChangeKind, id state.InvocationID, status state.Status, ts time.Time) {
	l.lastSeq++
	l.entries = append(l.entries, changeEntry{seq: l.lastSeq, at: time.Now(), kind: kind, id: id, status: status, ts: ts})
	l.notify()
}

// notify wakes every watch waiting for a change. Callers hold the write
// lock.
func (l *changeLog) notify() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// deleteBefore deletes the changes committed before cutoff. Commit times
// grow with the sequence (they are taken under the write lock, by the
// monotonic clock), so those changes are a prefix of the log.
func (l *changeLog) deleteBefore(cutoff time.Time) {
	n := sort.Search(len(l.entries), func(i int) bool { return !l.entries[i].at.Before(cutoff) })
	if n == 0 {
		return
	}
	l.deleted = l.entries[n-1].seq
	l.entries = append([]changeEntry(nil), l.entries[n:]...)
	l.notify()
}

// clear deletes every change, as a purge does, keeping the sequence.
func (l *changeLog) clear() {
	if len(l.entries) > 0 {
		l.deleted = l.entries[len(l.entries)-1].seq
	}
	l.entries = nil
	l.notify()
}

// after returns the changes with a sequence number in (pos, end], at most
// limit of them.
func (l *changeLog) after(pos, end uint64, limit int) []changeEntry {
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].seq > pos })
	j := i
	for j < len(l.entries) && j-i < limit && l.entries[j].seq <= end {
		j++
	}
	return l.entries[i:j]
}
