package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// historyColumns is the number of columns written per history row.
const historyColumns = 4

// historyConflict makes a second write of the same (invocation, timestamp,
// status) replace the stored document, keeping the record's place in
// insertion order.
var historyConflict = clause.OnConflict{
	Columns: []clause.Column{
		{Name: "invocation_id"}, {Name: "history_timestamp"}, {Name: "history_status"},
	},
	DoUpdates: clause.AssignmentColumns([]string{"history_json"}),
}

// AddHistory inserts rows atomically. Rows must have distinct
// (invocation, timestamp, status) keys; callers pass one record for several
// invocations, sorted by invocation id.
func (r Repo) AddHistory(db *gorm.DB, rows []entities.History) error {
	parts := chunks(len(rows), rowsPerStatement(historyColumns))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			if err := tx.Clauses(historyConflict).Create(&batch).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// History returns the rows of id ordered by timestamp, then insertion.
func (r Repo) History(db *gorm.DB, id string) ([]entities.History, error) {
	var rows []entities.History
	err := db.Where("invocation_id = ?", id).Order("history_timestamp, id").Find(&rows).Error
	return rows, err
}

// HistoryCursor is the position of the last row of a time-range page.
type HistoryCursor struct {
	Timestamp int64
	ID        int64
	Started   bool // false before the first page
}

// HistoryPage returns up to limit rows with a timestamp in [startUs, endUs]
// after cur in (timestamp, id) order: keyset pagination, so each page costs
// the same however far the iteration has gone.
func (r Repo) HistoryPage(db *gorm.DB, startUs, endUs int64, cur HistoryCursor, limit int) ([]entities.History, error) {
	q := db.Where("history_timestamp >= ? AND history_timestamp <= ?", startUs, endUs)
	if cur.Started {
		q = q.Where("(history_timestamp > ? OR (history_timestamp = ? AND id > ?))",
			cur.Timestamp, cur.Timestamp, cur.ID)
	}
	var rows []entities.History
	err := q.Order("history_timestamp, id").Limit(limit).Find(&rows).Error
	return rows, err
}

// InvocationIDsPage returns up to limit distinct invocation ids, ascending,
// greater than after (all when started is false), with a history row in
// [startUs, endUs].
func (r Repo) InvocationIDsPage(db *gorm.DB, startUs, endUs int64, after string, started bool, limit int) ([]string, error) {
	q := db.Model(&entities.History{}).
		Where("history_timestamp >= ? AND history_timestamp <= ?", startUs, endUs)
	if started {
		q = q.Where("invocation_id > ?", after)
	}
	var ids []string
	err := q.Distinct("invocation_id").Order("invocation_id").Limit(limit).Pluck("invocation_id", &ids).Error
	return ids, err
}
