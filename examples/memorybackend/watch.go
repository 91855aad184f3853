package memorybackend

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/taskstate/statebackend/state"
)

var _ state.Watcher = (*Backend)(nil)

// The Watcher reads the app's change log (changes.go) after a position:
// the sequence number of the last change the consumer has seen. Each step
// reads a batch under the read lock, turning entries into Changes there
// (the task and workflow as stored now), and yields them with no lock
// held. A following watch that has read everything waits for the log's
// wake channel, taken under the same lock as its last read, so no change
// can slip in unnoticed between the read and the wait. Nothing runs in
// another goroutine: a consumer that stops iterating leaves nothing
// behind.

// watchBatch is the number of log entries one step reads.
const watchBatch = 256

// cursorPrefix starts every change cursor; it names the format, so a later
// format can tell its cursors from these.
const cursorPrefix = "m1."

// Watch implements state.Watcher.
func (b *Backend) Watch(ctx context.Context, req state.WatchRequest) iter.Seq2[state.Change, error] {
	return func(yield func(state.Change, error) bool) {
		if err := b.check(ctx); err != nil {
			yield(state.Change{}, err)
			return
		}
		if err := req.Validate(); err != nil {
			yield(state.Change{}, err)
			return
		}
		pos, given, err := parseChangeCursor(req.After)
		if err != nil {
			yield(state.Change{}, err)
			return
		}
		// end is the last change a watch without Follow delivers: the
		// newest committed when the call started.
		var end uint64
		b.read(func(a *app) {
			l := a.changes
			switch {
			case !given:
				pos = l.deleted // before the oldest change kept
			case pos > l.lastSeq:
				err = state.Invalid("req.After", "not a change cursor of this backend")
			}
			end = l.lastSeq
		})
		if err != nil {
			yield(state.Change{}, err)
			return
		}
		if req.Follow {
			end = math.MaxUint64
		}
		for {
			if err := b.check(ctx); err != nil {
				yield(state.Change{}, err)
				return
			}
			var batch []state.Change
			var wake <-chan struct{}
			var expired, caughtUp bool
			b.read(func(a *app) {
				l := a.changes
				if pos < l.deleted {
					expired = true // changes after pos were deleted before we read them
					return
				}
				for _, e := range l.after(pos, end, watchBatch) {
					pos = e.seq // past the changes the filter skips too
					if c := a.change(e); changeMatches(req.Filter, c) {
						batch = append(batch, c)
					}
				}
				caughtUp, wake = pos >= l.lastSeq, l.wake
			})
			if expired {
				yield(state.Change{}, fmt.Errorf("memorybackend: changes after cursor %q were deleted: %w", cursorOf(pos), state.ErrCursorExpired))
				return
			}
			for _, c := range batch {
				if !yield(c, nil) {
					return
				}
			}
			if pos >= end {
				return // without Follow: everything committed at the start delivered
			}
			if caughtUp {
				// Following, with the whole log read: wait until it
				// changes (wake was taken with the last read, so nothing
				// committed since is missed), the context ends or the
				// backend closes; the check above reports the last two.
				select {
				case <-wake:
				case <-ctx.Done():
				case <-b.done:
				}
			}
		}
	}
}

// LatestChange implements state.Watcher. Its cursor is the newest change
// committed, even when a prune or a purge deleted it since: a watch after
// it delivers what commits next, and is not expired.
func (b *Backend) LatestChange(ctx context.Context) (state.ChangeCursor, error) {
	if err := b.check(ctx); err != nil {
		return "", err
	}
	var last uint64
	b.read(func(a *app) { last = a.changes.lastSeq })
	if last == 0 {
		return "", nil
	}
	return cursorOf(last), nil
}

// change returns the Change of e, with the task and workflow as stored
// now. Callers hold the lock.
func (a *app) change(e changeEntry) state.Change {
	c := state.Change{Cursor: cursorOf(e.seq), Kind: e.kind, InvocationID: e.id}
	switch e.kind {
	case state.ChangeHistory:
		c.Status, c.Timestamp = e.status, e.ts
	case state.ChangeWorkflowRun:
		c.WorkflowID = e.id
		if wf, ok := a.workflows[e.id]; ok {
			c.Task = wf.WorkflowType
		}
		return c
	}
	if inv, ok := a.invocations[e.id]; ok {
		c.Task, c.WorkflowID = inv.CallID.Task, inv.Workflow.WorkflowID
	}
	return c
}

// changeMatches reports whether c passes every set field of f. A change of
// an id that is not stored has no task and no workflow, so it never passes
// a filter on them.
func changeMatches(f state.ChangeFilter, c state.Change) bool {
	return (len(f.Kinds) == 0 || slices.Contains(f.Kinds, c.Kind)) &&
		(len(f.Invocations) == 0 || slices.Contains(f.Invocations, c.InvocationID)) &&
		(len(f.Tasks) == 0 || (!c.Task.IsZero() && slices.Contains(f.Tasks, c.Task))) &&
		(f.WorkflowID == "" || c.WorkflowID == f.WorkflowID) &&
		(len(f.Statuses) == 0 || (c.Kind == state.ChangeHistory && slices.Contains(f.Statuses, c.Status)))
}

// cursorOf encodes the position after the change seq: "m1.<seq>".
func cursorOf(seq uint64) state.ChangeCursor {
	return state.ChangeCursor(cursorPrefix + strconv.FormatUint(seq, 10))
}

// parseChangeCursor decodes a cursor made by cursorOf; given is false for
// the empty cursor. Only the canonical form is accepted (no sign, no
// leading zero), so a cursor names one position in one way.
func parseChangeCursor(c state.ChangeCursor) (seq uint64, given bool, err error) {
	if c == "" {
		return 0, false, nil
	}
	digits, ok := strings.CutPrefix(string(c), cursorPrefix)
	n, perr := strconv.ParseUint(digits, 10, 64)
	if !ok || perr != nil || n == 0 || strconv.FormatUint(n, 10) != digits {
		return 0, false, state.Invalid("req.After", "not a change cursor of this backend")
	}
	return n, true, nil
}
