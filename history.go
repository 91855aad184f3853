package statebackend

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// AddHistory implements Backend.
func (b *gormBackend) AddHistory(ctx context.Context, ids []InvocationID, h InvocationHistory) error {
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return err
	}
	if err := h.Validate("history"); err != nil {
		return err
	}
	if len(ids) == 0 {
		return b.check(ctx)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows := make([]entities.History, len(ids))
	ts := state.ToMicros(h.Timestamp)
	for i, id := range ids {
		h.InvocationID = id
		rows[i] = entities.History{
			InvocationID:     entities.Key(id),
			HistoryTimestamp: ts,
			HistoryStatus:    entities.Key(h.StatusRecord.Status),
			HistoryJSON:      entities.Text(h.AppendJSON(make([]byte, 0, 256))),
		}
	}
	return b.write(ctx, "AddHistory", func(db *gorm.DB) error {
		return b.repo.AddHistory(db, rows)
	})
}

// History implements Backend.
func (b *gormBackend) History(ctx context.Context, id InvocationID) ([]InvocationHistory, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var rows []entities.History
	err := b.read(ctx, "History", func(db *gorm.DB) (err error) {
		rows, err = b.repo.History(db, string(id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return historyFromRows(rows)
}

// HistoryInTimeRange implements Backend.
func (b *gormBackend) HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationHistory, error] {
	return func(yield func([]InvocationHistory, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		var cur repository.HistoryCursor
		var rt route
		for {
			var rows []entities.History
			err := b.readReplica(ctx, "HistoryInTimeRange", &rt, func(db *gorm.DB) (err error) {
				rows, err = b.repo.HistoryPage(db, lo, hi, cur, batchSize)
				return err
			})
			if err != nil {
				yield(nil, err)
				return
			}
			if len(rows) == 0 {
				return
			}
			batch, err := historyFromRows(rows)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(batch, nil) || len(rows) < batchSize {
				return
			}
			last := rows[len(rows)-1]
			cur = repository.HistoryCursor{Timestamp: last.HistoryTimestamp, ID: last.ID, Started: true}
		}
	}
}

// InvocationIDsInTimeRange implements Backend.
func (b *gormBackend) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]InvocationID, error] {
	return func(yield func([]InvocationID, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		after, started := "", false
		var rt route
		for {
			var ids []string
			err := b.readReplica(ctx, "InvocationIDsInTimeRange", &rt, func(db *gorm.DB) (err error) {
				ids, err = b.repo.InvocationIDsPage(db, lo, hi, after, started, batchSize)
				return err
			})
			if err != nil {
				yield(nil, err)
				return
			}
			if len(ids) == 0 {
				return
			}
			if !yield(toInvocationIDs(ids), nil) || len(ids) < batchSize {
				return
			}
			after, started = ids[len(ids)-1], true
		}
	}
}

func historyFromRows(rows []entities.History) ([]InvocationHistory, error) {
	out := make([]InvocationHistory, len(rows))
	for i, row := range rows {
		if err := out[i].UnmarshalJSON([]byte(row.HistoryJSON)); err != nil {
			return nil, fmt.Errorf("statebackend: stored history record %d is malformed: %w", row.ID, err)
		}
	}
	return out, nil
}
