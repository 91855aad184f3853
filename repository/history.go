package repository

import (
	"cmp"
	"database/sql"
	"slices"
	"strconv"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// historyColumns is the number of columns written per history row.
const historyColumns = 4

// historySelect lists the columns read back, in scan order: the document
// holds the invocation id and the status too.
var historySelect = []string{"id", "history_timestamp", "history_json"}

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
	parts := fixedChunks(len(rows), rowsPerStatement(historyColumns))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			stmt, err := r.historyInsert(tx, len(batch))
			if err != nil {
				return err
			}
			args := make([]any, 0, historyColumns*len(batch))
			for _, h := range batch {
				args = append(args, string(h.InvocationID), h.HistoryTimestamp, string(h.HistoryStatus), string(h.HistoryJSON))
			}
			if _, err := stmt.exec(tx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// historyInsert compiles the upsert of n history rows.
func (r Repo) historyInsert(db *gorm.DB, n int) (*compiled, error) {
	return r.compile(db, "history.insert."+strconv.Itoa(n), func(tx *gorm.DB) *gorm.DB {
		values := make([]map[string]any, n)
		for i := range values {
			m := markers(historyColumns*i, historyColumns)
			values[i] = map[string]any{
				"invocation_id": m[0], "history_timestamp": m[1], "history_status": m[2], "history_json": m[3],
			}
		}
		return tx.Table(r.Tables.Name("History")).Clauses(historyConflict).Create(values)
	})
}

// History returns the rows of id ordered by timestamp, then insertion.
// The database orders by timestamp along the (invocation, timestamp, status)
// index; ties, rare and few, are ordered here, which spares the database a
// sort on every call.
func (r Repo) History(db *gorm.DB, id string) ([]entities.History, error) {
	stmt, err := r.compile(db, "history.of", func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.History{}).Select(historySelect).Where("invocation_id = ?", arg(0)).
			Order("history_timestamp").Find(&[]entities.History{})
	})
	if err != nil {
		return nil, err
	}
	rows, err := scanHistory(stmt.query(db, id))
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(a, b entities.History) int {
		if c := cmp.Compare(a.HistoryTimestamp, b.HistoryTimestamp); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return rows, nil
}

// HistoryCursor is the position of the last row of a time-range page.
type HistoryCursor struct {
	Timestamp int64
	ID        entities.Serial
	Started   bool // false before the first page
}

// HistoryPage returns up to limit rows with a timestamp in [startUs, endUs]
// after cur in (timestamp, id) order: keyset pagination, so each page costs
// the same however far the iteration has gone.
func (r Repo) HistoryPage(db *gorm.DB, startUs, endUs int64, cur HistoryCursor, limit int) ([]entities.History, error) {
	key := "history.page." + strconv.FormatBool(cur.Started) + "." + strconv.Itoa(limit)
	stmt, err := r.compile(db, key, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.History{}).Select(historySelect).
			Where("history_timestamp >= ? AND history_timestamp <= ?", arg(0), arg(1))
		if cur.Started {
			q = q.Where("(history_timestamp > ? OR (history_timestamp = ? AND id > ?))", arg(2), arg(2), arg(3))
		}
		return q.Order("history_timestamp, id").Limit(limit).Find(&[]entities.History{})
	})
	if err != nil {
		return nil, err
	}
	lo := startUs
	if cur.Started {
		// Start the index range at the cursor, not at the range's start:
		// otherwise every page re-walks the rows before it.
		lo = cur.Timestamp
	}
	return scanHistory(stmt.query(db, lo, endUs, cur.Timestamp, int64(cur.ID)))
}

// InvocationIDsPage returns up to limit distinct invocation ids, ascending,
// greater than after (all when started is false), with a history row in
// [startUs, endUs].
func (r Repo) InvocationIDsPage(db *gorm.DB, startUs, endUs int64, after string, started bool, limit int) ([]string, error) {
	key := "history.ids." + strconv.FormatBool(started) + "." + strconv.Itoa(limit)
	stmt, err := r.compile(db, key, func(tx *gorm.DB) *gorm.DB {
		// "+history_timestamp" (a no-op in SQL) keeps the planner off the
		// time index, which would make it read the whole range and sort
		// it for every page; walking the (invocation_id, timestamp, status)
		// index from the cursor keeps each page's cost bounded.
		q := tx.Model(&entities.History{}).Distinct("invocation_id").
			Where("+history_timestamp >= ? AND +history_timestamp <= ?", arg(0), arg(1))
		if started {
			q = q.Where("invocation_id > ?", arg(2))
		}
		return q.Order("invocation_id").Limit(limit).Find(&[]entities.History{})
	})
	if err != nil {
		return nil, err
	}
	rows, err := stmt.query(db, startUs, endUs, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make([]string, 0, limit)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// scanHistory reads history rows selected with historySelect (InvocationID
// and HistoryStatus stay empty).
func scanHistory(rows *sql.Rows, err error) ([]entities.History, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []entities.History
	for rows.Next() {
		var h entities.History
		var id int64
		var doc string
		if err := rows.Scan(&id, &h.HistoryTimestamp, &doc); err != nil {
			return nil, err
		}
		h.ID, h.HistoryJSON = entities.Serial(id), entities.Text(doc)
		out = append(out, h)
	}
	return out, rows.Err()
}
