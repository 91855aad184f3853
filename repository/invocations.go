package repository

import (
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// invocationColumns lists the columns of entities.Invocation, in scan order;
// invocation_id is the key, the others are replaced on upsert.
var invocationColumns = []string{
	"invocation_id", "call_id_key", "task_id_key", "arguments_id", "serialized_arguments",
	"parent_invocation_id", "workflow_id", "workflow_type_key", "parent_workflow_id",
}

// UpsertInvocations stores rows atomically, overwriting existing rows. When
// an id repeats, the last row wins. Rows are written in ascending id order
// so concurrent writers lock rows in the same order and cannot deadlock.
func (r Repo) UpsertInvocations(db *gorm.DB, rows []entities.Invocation) error {
	rows = dedupeLast(rows, func(e *entities.Invocation) entities.Key { return e.InvocationID })
	parts := fixedChunks(len(rows), rowsPerStatement(len(invocationColumns)))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			stmt, err := r.invocationUpsert(tx, len(batch))
			if err != nil {
				return err
			}
			args := make([]any, 0, len(invocationColumns)*len(batch))
			for _, e := range batch {
				args = append(args, string(e.InvocationID), string(e.CallIDKey), string(e.TaskIDKey),
					string(e.ArgumentsID), string(e.SerializedArguments), string(e.ParentInvocationID),
					string(e.WorkflowID), string(e.WorkflowTypeKey), string(e.ParentWorkflowID))
			}
			if _, err := stmt.exec(tx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// invocationUpsert compiles the upsert of n invocation rows.
func (r Repo) invocationUpsert(db *gorm.DB, n int) (*compiled, error) {
	return r.compile(db, "invocations.upsert."+strconv.Itoa(n), func(tx *gorm.DB) *gorm.DB {
		cols := len(invocationColumns)
		values := make([]map[string]any, n)
		for i := range values {
			m := markers(cols*i, cols)
			values[i] = make(map[string]any, cols)
			for j, c := range invocationColumns {
				values[i][c] = m[j]
			}
		}
		return tx.Table(r.Tables.Name("Invocation")).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "invocation_id"}},
			DoUpdates: clause.AssignmentColumns(invocationColumns[1:]),
		}).Create(values)
	})
}

// Invocation returns the row of id; found is false when there is none.
func (r Repo) Invocation(db *gorm.DB, id string) (row entities.Invocation, found bool, err error) {
	stmt, err := r.compile(db, "invocations.get", func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.Invocation{}).Select(invocationColumns).
			Where("invocation_id = ?", arg(0)).Limit(1).Find(&[]entities.Invocation{})
	})
	if err != nil {
		return row, false, err
	}
	rows, err := stmt.query(db, id)
	if err != nil {
		return row, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return row, false, rows.Err()
	}
	var f [9]string
	if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8]); err != nil {
		return row, false, err
	}
	row = entities.Invocation{
		InvocationID: entities.Key(f[0]), CallIDKey: entities.Key(f[1]), TaskIDKey: entities.Key(f[2]),
		ArgumentsID: entities.Key(f[3]), SerializedArguments: entities.Text(f[4]),
		ParentInvocationID: entities.Key(f[5]), WorkflowID: entities.Key(f[6]),
		WorkflowTypeKey: entities.Key(f[7]), ParentWorkflowID: entities.Key(f[8]),
	}
	return row, true, rows.Err()
}

// Invocations returns the rows among ids, in no particular order.
func (r Repo) Invocations(db *gorm.DB, ids []string) ([]entities.Invocation, error) {
	ids = uniqueSorted(ids)
	var out []entities.Invocation
	for _, p := range chunks(len(ids), rowsPerStatement(1)) {
		var rows []entities.Invocation
		if err := db.Where("invocation_id IN ?", ids[p[0]:p[1]]).Find(&rows).Error; err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// ChildInvocations returns the ids of the children of parent, ascending.
func (r Repo) ChildInvocations(db *gorm.DB, parent string) ([]string, error) {
	var ids []string
	err := db.Model(&entities.Invocation{}).Where("parent_invocation_id = ?", parent).
		Order("invocation_id").Pluck("invocation_id", &ids).Error
	return ids, err
}

// InvocationIDsByWorkflow returns the ids of the invocations in workflowID
// (when not empty) of type typeKey (when not empty), ascending.
func (r Repo) InvocationIDsByWorkflow(db *gorm.DB, workflowID, typeKey string) ([]string, error) {
	q := db.Model(&entities.Invocation{})
	if workflowID != "" {
		q = q.Where("workflow_id = ?", workflowID)
	}
	if typeKey != "" {
		q = q.Where("workflow_type_key = ?", typeKey)
	}
	var ids []string
	err := q.Order("invocation_id").Pluck("invocation_id", &ids).Error
	return ids, err
}

// dedupeLast returns rows with one row per key, the last given for each,
// sorted by key. rows is not modified.
func dedupeLast[T any](rows []T, key func(*T) entities.Key) []T {
	last := make(map[entities.Key]int, len(rows))
	for i := range rows {
		last[key(&rows[i])] = i
	}
	out := make([]T, 0, len(last))
	for i := range rows {
		if last[key(&rows[i])] == i {
			out = append(out, rows[i])
		}
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(string(key(&a)), string(key(&b))) })
	return out
}

// uniqueSorted returns the distinct values of ids, ascending.
func uniqueSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
