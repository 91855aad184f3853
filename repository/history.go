package repository

import (
	"cmp"
	"database/sql"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// historyConflict makes a second write of the same (invocation, timestamp,
// status) replace the stored document, keeping the record's place in
// insertion order.
var historyConflict = clause.OnConflict{
	Columns: []clause.Column{
		{Name: "invocation_id"}, {Name: "history_timestamp"}, {Name: "history_status"},
	},
	DoUpdates: clause.AssignmentColumns([]string{"history_json"}),
}

// AddHistory inserts rows atomically (their ID is ignored), in the order
// given: ids, which order equal timestamps, follow it. Rows must have
// distinct (invocation, timestamp, status) keys; callers pass one record
// for several invocations sorted by invocation id, or records to import in
// their original order.
func (r Repo) AddHistory(db *gorm.DB, rows []entities.History) error {
	const cols = 4
	parts := fixedChunks(len(rows), rowsPerStatement(cols))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			stmt, err := r.statement(tx, stmtKey{"history.insert", len(batch)}, func(tx *gorm.DB) *gorm.DB {
				values := make([]map[string]any, len(batch))
				for i := range values {
					m := markers(cols*i, cols)
					values[i] = map[string]any{
						"invocation_id": m[0], "history_timestamp": m[1], "history_status": m[2], "history_json": m[3],
					}
				}
				return tx.Table(r.Tables.Name("History")).Clauses(historyConflict).Create(values)
			})
			if err != nil {
				return err
			}
			args := make([]any, 0, cols*len(batch))
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

// History returns the records of id ordered by timestamp, then insertion,
// each made by decode from its stored id and document (the driver's
// buffer, valid only during the call).
//
// The statement has no ORDER BY: the records are ordered here, which costs
// nothing for the handful of records of one invocation. An ORDER BY makes
// SQLite's planner weigh plans that do not use the invocation's index, and
// in doing so mark the invocation id as a parameter whose value may change
// the plan; the SQLite driver clears a statement's bindings before every
// execution, which then discards the compiled statement, so every call
// would parse and plan the query again (about 40 % of the read's time).
// Without the ORDER BY the plan is fixed: the (invocation, timestamp,
// status) index, on every database.
//
// (A function, not a method of Repo: methods take no type parameters.)
func History[T any](r Repo, db *gorm.DB, id string, decode func(id entities.Serial, doc []byte) T) ([]T, error) {
	stmt, err := r.statement(db, stmtKey{name: "history.of"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.History{}).Select("id", "history_timestamp", "history_json").
			Where("invocation_id = ?", arg(0)).Find(&[]entities.History{})
	})
	if err != nil {
		return nil, err
	}
	type key struct {
		ts int64
		id entities.Serial
	}
	var (
		out  []T
		keys []key
		k    key
		doc  sql.RawBytes
	)
	dest := []any{(*int64)(&k.id), &k.ts, &doc}
	err = stmt.each(db, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if out == nil {
			out, keys = make([]T, 0, 8), make([]key, 0, 8)
		}
		out = append(out, decode(k.id, doc))
		keys = append(keys, k)
		return nil
	}, id)
	if err != nil {
		return nil, err
	}
	byTime := func(a, b key) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	}
	if slices.IsSortedFunc(keys, byTime) {
		return out, nil
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return byTime(keys[a], keys[b]) })
	sorted := make([]T, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

// HistoryCursor is the position of the last row of a time-range page.
type HistoryCursor struct {
	Timestamp int64
	ID        entities.Serial
	Started   bool // false before the first page
}

// HistoryPage calls fn with each of the up to limit rows with a timestamp
// in [startUs, endUs] after cur, in (timestamp, id) order: keyset
// pagination, so each page costs the same however far the iteration has
// gone. doc, the row's document, is valid only during the call; an error
// from fn ends the page with that error.
func (r Repo) HistoryPage(db *gorm.DB, startUs, endUs int64, cur HistoryCursor, limit int, fn func(id entities.Serial, ts int64, doc []byte) error) error {
	stmt, err := r.historyPage(db, cur.Started)
	if err != nil {
		return err
	}
	lo := startUs
	if cur.Started {
		// Start the index range at the cursor, not at the range's start:
		// otherwise every page re-walks the rows before it.
		lo = cur.Timestamp
	}
	var id, ts int64
	var doc sql.RawBytes
	dest := []any{&id, &ts, &doc}
	return stmt.each(db, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		return fn(entities.Serial(id), ts, doc)
	}, lo, endUs, cur.Timestamp, int64(cur.ID), limit)
}

// InvocationIDsPage calls fn with each of the up to limit distinct
// invocation ids, ascending, greater than after (all when started is
// false), with a history row in [startUs, endUs].
func (r Repo) InvocationIDsPage(db *gorm.DB, startUs, endUs int64, after string, started bool, limit int, fn func(id string)) error {
	stmt, err := r.invocationIDsPage(db, started)
	if err != nil {
		return err
	}
	var id string
	dest := []any{&id}
	return stmt.each(db, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		fn(id)
		return nil
	}, startUs, endUs, after, limit)
}

// historyPage is the statement of HistoryPage; its arguments are start,
// end, the cursor's timestamp and id, and the limit.
func (r Repo) historyPage(db *gorm.DB, started bool) (*compiled, error) {
	key := stmtKey{name: "history.page.first"}
	if started {
		key.name = "history.page.next"
	}
	return r.statement(db, key, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.History{}).Select("id", "history_timestamp", "history_json").
			Where("history_timestamp >= ? AND history_timestamp <= ?", arg(0), arg(1))
		if started {
			q = q.Where("(history_timestamp > ? OR (history_timestamp = ? AND id > ?))", arg(2), arg(2), arg(3))
		}
		return limited(q.Order("history_timestamp, id"), 4).Find(&[]entities.History{})
	})
}

// invocationIDsPage is the statement of InvocationIDsPage; its arguments
// are start, end, the cursor's invocation id, and the limit.
func (r Repo) invocationIDsPage(db *gorm.DB, started bool) (*compiled, error) {
	key := stmtKey{name: "history.ids.first"}
	if started {
		key.name = "history.ids.next"
	}
	return r.statement(db, key, func(tx *gorm.DB) *gorm.DB {
		ts := r.cfg.UnindexedHistoryTimestamp
		q := tx.Model(&entities.History{}).Distinct("invocation_id").
			Where(ts+" >= ? AND "+ts+" <= ?", arg(0), arg(1))
		if started {
			q = q.Where("invocation_id > ?", arg(2))
		}
		return limited(q.Order("invocation_id"), 3).Find(&[]entities.History{})
	})
}

// Query is a compiled statement: its SQL and the bind variables it takes
// for a call's arguments.
type Query struct {
	SQL  string
	Vars []any
}

// PageQueries returns the queries of a history page and of an
// invocation-id page that follow a cursor, for tests that check their
// plans: pages of at most limit rows in [startUs, endUs], history after the
// timestamp cursorUs, ids after the id cursorID.
func (r Repo) PageQueries(db *gorm.DB, startUs, endUs, cursorUs int64, cursorID string, limit int) (history, ids Query, err error) {
	h, err := r.historyPage(db, true)
	if err != nil {
		return history, ids, err
	}
	i, err := r.invocationIDsPage(db, true)
	if err != nil {
		return history, ids, err
	}
	history = Query{SQL: h.sql, Vars: h.bind([]any{cursorUs, endUs, cursorUs, int64(0), limit})}
	ids = Query{SQL: i.sql, Vars: i.bind([]any{startUs, endUs, cursorID, limit})}
	return history, ids, nil
}
