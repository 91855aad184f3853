package memorybackend

import (
	"context"
	"time"

	"github.com/taskstate/statebackend/state"
)

// AddHistory implements state.Backend.
func (b *Backend) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return err
	}
	if err := h.Validate("history"); err != nil {
		return err
	}
	h = normalizeHistory(h)
	b.write(func(a *app) {
		for _, id := range ids {
			h.InvocationID = id // each stored copy carries its own id
			// A new record is a change; one replaced in place is not.
			if a.history.add(h) {
				a.changes.add(state.ChangeHistory, id, h.StatusRecord.Status, h.Timestamp)
			}
		}
	})
	return nil
}

// History implements state.Backend.
func (b *Backend) History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var out []state.InvocationHistory
	b.read(func(a *app) { out = a.history.of(id) })
	return out, nil
}

// normalizeHistory keeps h's timestamps to the microsecond, in UTC: what a
// SQL backend storing integer microseconds would read back.
func normalizeHistory(h state.InvocationHistory) state.InvocationHistory {
	h.Timestamp = normalizeTime(h.Timestamp)
	h.StatusRecord.Timestamp = normalizeTime(h.StatusRecord.Timestamp)
	return h
}

func normalizeTime(t time.Time) time.Time {
	return state.FromMicros(state.ToMicros(t))
}
