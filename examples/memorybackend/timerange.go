package memorybackend

import (
	"context"
	"iter"
	"time"

	"github.com/taskstate/statebackend/state"
)

// The time-range iterators page with a cursor (keyset pagination): each
// batch is read under the lock afresh (after checking that the backend is
// open and the context live), starting after the last record (or
// id) of the previous batch. No lock is held while the caller works on a
// batch, and records inserted meanwhile can never shift the iteration to
// skip or repeat a record that existed when it began, as an offset would.

// HistoryInTimeRange implements state.Backend.
func (b *Backend) HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationHistory, error] {
	return func(yield func([]state.InvocationHistory, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		var after *position // nil before the first batch
		for {
			if err := b.check(ctx); err != nil {
				yield(nil, err)
				return
			}
			var batch []state.InvocationHistory
			var last position
			b.read(func(a *app) { batch, last = a.history.page(lo, hi, after, batchSize) })
			if len(batch) == 0 {
				return
			}
			if !yield(batch, nil) || len(batch) < batchSize {
				return
			}
			after = &last
		}
	}
}

// InvocationIDsInTimeRange implements state.Backend.
func (b *Backend) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationID, error] {
	return func(yield func([]state.InvocationID, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		var after *state.InvocationID // nil before the first batch
		for {
			if err := b.check(ctx); err != nil {
				yield(nil, err)
				return
			}
			var batch []state.InvocationID
			b.read(func(a *app) { batch = a.history.idsPage(lo, hi, after, batchSize) })
			if len(batch) == 0 {
				return
			}
			last := batch[len(batch)-1] // before yield: the caller may reuse batch
			if !yield(batch, nil) || len(batch) < batchSize {
				return
			}
			after = &last
		}
	}
}
