package repository

import (
	"database/sql"
	"math"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Retention queries. They serve pruning: finding final history records
// older than a cutoff, walking a workflow run's tree, reading the last
// record of each member and deleting whole units. Each reads or deletes
// rows by key through an index (IN lists in fixed chunk sizes), so a batch
// costs in proportion to its size. Being maintenance, the queries other
// than the candidate scan are built per call.

// RecordRef is where a history record is: its invocation, timestamp and
// id (the position of keyset pagination).
type RecordRef struct {
	InvocationID string
	Timestamp    int64
	ID           int64
}

// HistoryMark returns the highest history id, 0 for an empty table: what a
// prune may look at. Records inserted later get higher ids (ids grow with
// insertion on every supported database), so bounding a scan by the mark
// keeps it from chasing records written after the scan began.
func (r Repo) HistoryMark(db *gorm.DB) (int64, error) {
	var mark sql.NullInt64
	err := db.Model(&entities.History{}).Select("MAX(id)").Scan(&mark).Error
	return mark.Int64, err
}

// FinalRecordsPage returns up to limit records of the final status status
// older than cutoff (timestamp < cutoff) with an id at most mark, after the
// cursor cur in (timestamp, id) order, along the (status, timestamp, id)
// index: the index range starts at the cursor, and the order is the
// index's (status first), so that no planner prefers the time index and a
// sort. The mark is a filter within the range, never its bound, so that no
// planner walks the primary key instead.
func (r Repo) FinalRecordsPage(db *gorm.DB, status string, cutoff, mark int64, cur HistoryCursor, limit int) ([]RecordRef, error) {
	key := stmtKey{name: "retention.final.first"}
	if cur.Started {
		key.name = "retention.final.next"
	}
	stmt, err := r.finalRecordsPage(db, key, cur.Started)
	if err != nil {
		return nil, err
	}
	lo := int64(math.MinInt64)
	if cur.Started {
		lo = cur.Timestamp
	}
	var out []RecordRef
	err = stmt.each(db, scanRefs(&out), status, cutoff, lo, cur.Timestamp, int64(cur.ID), limit, mark)
	return out, err
}

// finalRecordsPage is the statement of FinalRecordsPage; its arguments are
// the status, the cutoff, the range's start, the cursor's timestamp and
// id, the limit and the mark.
func (r Repo) finalRecordsPage(db *gorm.DB, key stmtKey, started bool) (*compiled, error) {
	return r.statement(db, key, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.History{}).Select("invocation_id", "history_timestamp", "id")
		if r.cfg.FinalPredicate != "" {
			q = q.Where(r.cfg.FinalPredicate)
		}
		q = q.Where("history_status = ? AND history_timestamp >= ? AND history_timestamp < ? AND id <= ?", arg(0), arg(2), arg(1), arg(6))
		if started {
			q = q.Where("(history_timestamp > ? OR (history_timestamp = ? AND id > ?))", arg(3), arg(3), arg(4))
		}
		return limited(q.Order("history_status, history_timestamp, id"), 5).Find(&[]entities.History{})
	})
}

// FinalRecordsQuery returns the query of a FinalRecordsPage after a
// cursor, for tests that check its plan.
func (r Repo) FinalRecordsQuery(db *gorm.DB, status string, cutoff, mark, cursorUs int64, limit int) (Query, error) {
	c, err := r.finalRecordsPage(db, stmtKey{name: "retention.final.next"}, true)
	if err != nil {
		return Query{}, err
	}
	return Query{SQL: c.sql, Vars: c.bind([]any{status, cutoff, cursorUs, cursorUs, int64(0), limit, mark})}, nil
}

// OldRecordsPage returns up to limit records of any status older than
// cutoff with an id at most mark, after the cursor cur in (timestamp, id)
// order, along the time index. A prune reads them after its batches, to
// count the units it kept: what is left of the old history is theirs.
func (r Repo) OldRecordsPage(db *gorm.DB, cutoff, mark int64, cur HistoryCursor, limit int) ([]RecordRef, error) {
	q := db.Model(&entities.History{}).Select("invocation_id", "history_timestamp", "id").
		Where("history_timestamp < ? AND id <= ?", cutoff, mark)
	if cur.Started {
		q = q.Where("history_timestamp >= ? AND (history_timestamp > ? OR (history_timestamp = ? AND id > ?))",
			cur.Timestamp, cur.Timestamp, cur.Timestamp, int64(cur.ID))
	}
	rows, err := q.Order("history_timestamp, id").Limit(limit).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecordRef
	scan := scanRefs(&out)
	for rows.Next() {
		if err := scan(rows); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// OldRecordsQuery returns the query of an OldRecordsPage after a cursor,
// for tests that check its plan.
func (r Repo) OldRecordsQuery(db *gorm.DB, cutoff, mark, cursorUs int64, limit int) (Query, error) {
	stmt := db.Session(&gorm.Session{DryRun: true}).Model(&entities.History{}).Select("invocation_id", "history_timestamp", "id").
		Where("history_timestamp < ? AND id <= ?", cutoff, mark).
		Where("history_timestamp >= ? AND (history_timestamp > ? OR (history_timestamp = ? AND id > ?))", cursorUs, cursorUs, cursorUs, int64(0)).
		Order("history_timestamp, id").Limit(limit).Find(&[]entities.History{}).Statement
	return Query{SQL: stmt.SQL.String(), Vars: stmt.Vars}, nil
}

// scanRefs appends the rows of a query selecting invocation_id,
// history_timestamp and id to out.
func scanRefs(out *[]RecordRef) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var f RecordRef
		err := rows.Scan(&f.InvocationID, &f.Timestamp, &f.ID)
		*out = append(*out, f)
		return err
	}
}

// Link is where an invocation or a workflow run sits in the workflow
// tree: for an invocation, its id, its workflow and that workflow's
// parent; for a workflow run, its id (twice) and its parent.
type Link struct {
	ID               string
	WorkflowID       string
	ParentWorkflowID string
}

// InvocationLinks returns the links of the invocations among ids.
func (r Repo) InvocationLinks(db *gorm.DB, ids []string) ([]Link, error) {
	return r.invocationLinks(db, "invocation_id", ids)
}

// InvocationsInWorkflows returns the links of the invocations whose
// workflow is one of workflows.
func (r Repo) InvocationsInWorkflows(db *gorm.DB, workflows []string) ([]Link, error) {
	return r.invocationLinks(db, "workflow_id", workflows)
}

// InvocationsUnderWorkflows returns the links of the invocations whose
// workflow's parent is one of workflows: the invocations of their
// sub-workflows.
func (r Repo) InvocationsUnderWorkflows(db *gorm.DB, workflows []string) ([]Link, error) {
	return r.invocationLinks(db, "parent_workflow_id", workflows)
}

func (r Repo) invocationLinks(db *gorm.DB, column string, values []string) ([]Link, error) {
	var out []Link
	for _, chunk := range paddedChunks(uniqueSorted(values)) {
		rows, err := db.Model(&entities.Invocation{}).Select("invocation_id", "workflow_id", "parent_workflow_id").
			Where(column+" IN ?", chunk).Rows()
		if err != nil {
			return nil, err
		}
		if err := scanLinks(rows, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WorkflowLinks returns the links of the workflow runs among ids.
func (r Repo) WorkflowLinks(db *gorm.DB, ids []string) ([]Link, error) {
	return r.workflowLinks(db, "workflow_id", ids)
}

// WorkflowsUnder returns the links of the workflow runs whose parent is
// one of workflows.
func (r Repo) WorkflowsUnder(db *gorm.DB, workflows []string) ([]Link, error) {
	return r.workflowLinks(db, "parent_workflow_id", workflows)
}

func (r Repo) workflowLinks(db *gorm.DB, column string, values []string) ([]Link, error) {
	var out []Link
	for _, chunk := range paddedChunks(uniqueSorted(values)) {
		rows, err := db.Model(&entities.Workflow{}).Select("workflow_id", "parent_workflow_id").
			Where(column+" IN ?", chunk).Rows()
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var l Link
				if err := rows.Scan(&l.ID, &l.ParentWorkflowID); err != nil {
					return err
				}
				l.WorkflowID = l.ID
				out = append(out, l)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanLinks(rows *sql.Rows, out *[]Link) error {
	defer rows.Close()
	for rows.Next() {
		var l Link
		if err := rows.Scan(&l.ID, &l.WorkflowID, &l.ParentWorkflowID); err != nil {
			return err
		}
		*out = append(*out, l)
	}
	return rows.Err()
}

// HistoryHead is what retention needs of an invocation's history: its
// last record (latest timestamp, then latest insertion) and how many
// records it has.
type HistoryHead struct {
	Timestamp int64
	ID        int64
	Status    string
	Records   int64
}

// HistoryHeads returns the head of the history of each id that has one.
func (r Repo) HistoryHeads(db *gorm.DB, ids []string) (map[string]HistoryHead, error) {
	out := make(map[string]HistoryHead, len(ids))
	for _, chunk := range paddedChunks(uniqueSorted(ids)) {
		rows, err := db.Model(&entities.History{}).Select("invocation_id", "history_timestamp", "id", "history_status").
			Where("invocation_id IN ?", chunk).Rows()
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var id, status string
				var ts, rowID int64
				if err := rows.Scan(&id, &ts, &rowID, &status); err != nil {
					return err
				}
				h := out[id]
				if h.Records == 0 || ts > h.Timestamp || ts == h.Timestamp && rowID > h.ID {
					h.Timestamp, h.ID, h.Status = ts, rowID, status
				}
				h.Records++
				out[id] = h
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UnitRows counts, by table, the rows a deletion of units removes (or, in
// a dry run, would remove).
type UnitRows struct {
	Invocations, History, Results, Exceptions, WorkflowRuns, WorkflowData, SubInvocations int64
}

// unitTables lists what DeleteUnits deletes, in order: the workflows'
// rows, then the invocations' rows, history last, so that an interrupted
// deletion leaves the records that mark the unit finished in place.
var unitTables = []struct {
	model      any
	column     string
	byWorkflow bool
	count      func(u *UnitRows) *int64
}{
	{&entities.WorkflowSubInvocation{}, "parent_workflow_id", true, func(u *UnitRows) *int64 { return &u.SubInvocations }},
	{&entities.WorkflowData{}, "workflow_id", true, func(u *UnitRows) *int64 { return &u.WorkflowData }},
	{&entities.Workflow{}, "workflow_id", true, func(u *UnitRows) *int64 { return &u.WorkflowRuns }},
	{&entities.Result{}, "invocation_id", false, func(u *UnitRows) *int64 { return &u.Results }},
	{&entities.Exception{}, "invocation_id", false, func(u *UnitRows) *int64 { return &u.Exceptions }},
	{&entities.Invocation{}, "invocation_id", false, func(u *UnitRows) *int64 { return &u.Invocations }},
	{&entities.History{}, "invocation_id", false, func(u *UnitRows) *int64 { return &u.History }},
	// The current statuses are derived from the history: deleted with it,
	// not counted.
	{&entities.InvocationStatus{}, "invocation_id", false, func(u *UnitRows) *int64 { return new(int64) }},
}

// DeleteUnits deletes the rows of the invocations ids (invocations,
// history, results, exceptions) and of the workflows (runs, data,
// sub-invocation sets), in ascending key order within each table, history
// last. With dryRun it counts them instead.
func (r Repo) DeleteUnits(db *gorm.DB, ids, workflows []string, dryRun bool) (UnitRows, error) {
	var n UnitRows
	for _, t := range unitTables {
		values := ids
		if t.byWorkflow {
			values = workflows
		}
		for _, chunk := range paddedChunks(uniqueSorted(values)) {
			q := db.Model(t.model).Where(t.column+" IN ?", chunk)
			if dryRun {
				var c int64
				if err := q.Count(&c).Error; err != nil {
					return n, err
				}
				*t.count(&n) += c
				continue
			}
			res := db.Where(t.column+" IN ?", chunk).Delete(t.model)
			if res.Error != nil {
				return n, res.Error
			}
			*t.count(&n) += res.RowsAffected
		}
	}
	return n, nil
}
