package repository

import (
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// invocationColumns is the number of columns of entities.Invocation.
const invocationColumns = 9

// UpsertInvocations stores rows atomically, overwriting existing rows. When
// an id repeats, the last row wins. Rows are written in ascending id order
// so concurrent writers lock rows in the same order and cannot deadlock.
func (r Repo) UpsertInvocations(db *gorm.DB, rows []entities.Invocation) error {
	rows = dedupeLast(rows, func(e *entities.Invocation) entities.Key { return e.InvocationID })
	parts := chunks(len(rows), rowsPerStatement(invocationColumns))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "invocation_id"}},
				UpdateAll: true,
			}).Create(&batch).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Invocation returns the row of id; found is false when there is none.
func (r Repo) Invocation(db *gorm.DB, id string) (row entities.Invocation, found bool, err error) {
	res := db.Where("invocation_id = ?", id).Limit(1).Find(&row)
	return row, res.RowsAffected > 0, res.Error
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
