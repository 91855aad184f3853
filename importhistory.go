package statebackend

import (
	"context"
	"strconv"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// ImportHistory implements state.HistoryImporter: the records go to the
// database as multi-row inserts in the order given (so history ids, which
// order equal timestamps, follow it), with the same conflict rule as
// AddHistory.
func (s *Store) ImportHistory(ctx context.Context, records []InvocationHistory) (err error) {
	c := s.begin(ctx, op.ImportHistory)
	defer c.end(&err)
	c.tel.Batch(len(records))
	type key struct {
		id     InvocationID
		ts     int64
		status Status
	}
	rows := make([]entities.History, 0, len(records))
	at := make(map[key]int, len(records))
	for i, h := range records {
		if h.InvocationID.Validate("record") != nil || h.Validate("record") != nil {
			field := "records[" + strconv.Itoa(i) + "]"
			if err := h.InvocationID.Validate(field + ".InvocationID"); err != nil {
				return err
			}
			return h.Validate(field)
		}
		k := key{h.InvocationID, state.ToMicros(h.Timestamp), h.StatusRecord.Status}
		row := entities.History{
			InvocationID:     entities.Key(h.InvocationID),
			HistoryTimestamp: k.ts,
			HistoryStatus:    entities.Key(k.status),
			HistoryJSON:      entities.Text(h.AppendJSON(make([]byte, 0, 256))),
		}
		// One row per key: a statement may not update a row twice.
		if j, ok := at[k]; ok {
			rows[j] = row
			continue
		}
		at[k] = len(rows)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return c.check()
	}
	return c.write(func(db *gorm.DB) error {
		return s.repo.AddHistory(db, rows)
	})
}
