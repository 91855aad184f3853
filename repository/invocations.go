package repository

import (
	"database/sql"
	"slices"
	"strings"

	"gorm.io/gorm"

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
	u := upsert{name: "invocations.upsert", model: "Invocation", cols: invocationColumns, nkeys: 1, update: invocationColumns[1:]}
	return r.upsertRows(db, u, len(rows), func(out []any, i int) []any {
		e := &rows[i]
		return append(out, string(e.InvocationID), string(e.CallIDKey), string(e.TaskIDKey),
			string(e.ArgumentsID), string(e.SerializedArguments), string(e.ParentInvocationID),
			string(e.WorkflowID), string(e.WorkflowTypeKey), string(e.ParentWorkflowID))
	})
}

// Invocation reads the row of id.
//
// The row is passed to use, with its InvocationID (id), CallIDKey (the
// other keys make it) and SerializedArguments left out: args holds the
// stored arguments, valid only during the call. found is false when there
// is no row; use's error is returned as it is.
func (r Repo) Invocation(db *gorm.DB, id string, use func(row *entities.Invocation, args []byte) error) (found bool, err error) {
	// Not the columns the row has from id or from the others: the driver
	// makes a string of each text column it reads.
	stmt, err := r.statement(db, stmtKey{name: "invocations.get_one"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.Invocation{}).Select(invocationColumns[2:]).
			Where("invocation_id = ?", arg(0)).Find(&[]entities.Invocation{})
	})
	if err != nil {
		return false, err
	}
	var row entities.Invocation
	var args sql.RawBytes
	dest := invocationDest(&row)[2:]
	dest[4-2] = &args
	return stmt.first(db, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		return use(&row, args)
	}, id)
}

// Invocations returns the rows among ids, in no particular order.
func (r Repo) Invocations(db *gorm.DB, ids []string) ([]entities.Invocation, error) {
	var out []entities.Invocation
	for _, chunk := range paddedChunks(uniqueSorted(ids)) {
		rows, err := r.invocations(db, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// invocations reads the rows among ids, whose length is a chunk size.
func (r Repo) invocations(db *gorm.DB, ids []string) ([]entities.Invocation, error) {
	stmt, err := r.invocationsStatement(db, len(ids))
	if err != nil {
		return nil, err
	}
	var out []entities.Invocation
	var e entities.Invocation
	dest := invocationDest(&e)
	err = stmt.each(db, func(rows *sql.Rows) error {
		err := rows.Scan(dest...)
		out = append(out, e)
		return err
	}, anys(ids)...)
	return out, err
}

// invocationsStatement is the statement that reads the rows among n ids,
// n a chunk size; its arguments are the ids.
func (r Repo) invocationsStatement(db *gorm.DB, n int) (*compiled, error) {
	return r.statement(db, stmtKey{"invocations.get", n}, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.Invocation{}).Select(invocationColumns)
		if n == 1 {
			q = q.Where("invocation_id = ?", arg(0))
		} else {
			q = q.Where("invocation_id IN ?", markers(0, n))
		}
		return q.Find(&[]entities.Invocation{})
	})
}

// invocationDest returns the scan destinations of the columns of
// invocationColumns in e.
func invocationDest(e *entities.Invocation) []any {
	return []any{(*string)(&e.InvocationID), (*string)(&e.CallIDKey), (*string)(&e.TaskIDKey),
		(*string)(&e.ArgumentsID), (*string)(&e.SerializedArguments), (*string)(&e.ParentInvocationID),
		(*string)(&e.WorkflowID), (*string)(&e.WorkflowTypeKey), (*string)(&e.ParentWorkflowID)}
}

// ChildInvocations returns the ids of the children of parent, ascending.
func (r Repo) ChildInvocations(db *gorm.DB, parent string) ([]string, error) {
	stmt, err := r.statement(db, stmtKey{name: "invocations.children"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.Invocation{}).Select("invocation_id").
			Where("parent_invocation_id = ?", arg(0)).Order("invocation_id").Find(&[]entities.Invocation{})
	})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	err = stmt.each(db, scanStrings(&ids), parent)
	return ids, err
}

// InvocationIDsByWorkflow returns the ids of the invocations in workflowID
// (when not empty) of type typeKey (when not empty), ascending.
func (r Repo) InvocationIDsByWorkflow(db *gorm.DB, workflowID, typeKey string) ([]string, error) {
	// One statement per combination of filters: four in all.
	key := stmtKey{name: "invocations.by_workflow"}
	if workflowID != "" {
		key.size |= 1
	}
	if typeKey != "" {
		key.size |= 2
	}
	stmt, err := r.statement(db, key, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.Invocation{}).Select("invocation_id")
		if workflowID != "" {
			q = q.Where("workflow_id = ?", arg(0))
		}
		if typeKey != "" {
			q = q.Where("workflow_type_key = ?", arg(1))
		}
		return q.Order("invocation_id").Find(&[]entities.Invocation{})
	})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	err = stmt.each(db, scanStrings(&ids), workflowID, typeKey)
	return ids, err
}

// scanStrings appends the values of rows of one text column to out.
func scanStrings(out *[]string) func(*sql.Rows) error {
	// One destination for every row: a variable declared in the closure
	// would be allocated again for each.
	var s string
	dest := []any{&s}
	return func(rows *sql.Rows) error {
		err := rows.Scan(dest...)
		*out = append(*out, s)
		return err
	}
}

// dedupeLast returns rows with one row per key, the last given for each,
// sorted by key. rows is not modified.
//
// It orders the rows' indexes, not the rows: rows are wide (an invocation
// is nine strings), and a sort swaps and compares them many times.
func dedupeLast[T any](rows []T, key func(*T) entities.Key) []T {
	idx := make([]int, len(rows))
	keys := make([]entities.Key, len(rows)) // key may build its result
	for i := range idx {
		idx[i], keys[i] = i, key(&rows[i])
	}
	// By key, then by position: the last of equal keys comes last.
	slices.SortFunc(idx, func(a, b int) int {
		if c := strings.Compare(string(keys[a]), string(keys[b])); c != 0 {
			return c
		}
		return a - b
	})
	out := make([]T, 0, len(rows))
	for j, i := range idx {
		if j+1 < len(idx) && keys[idx[j+1]] == keys[i] {
			continue // a later row of the same key follows
		}
		out = append(out, rows[i])
	}
	return out
}

// uniqueSorted returns the distinct values of ids, ascending.
func uniqueSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
