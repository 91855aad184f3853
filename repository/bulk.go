package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// The many-row forms of the one-row writes (SetResult, StoreWorkflowRun,
// ...), and UpsertInvocations: the same upsert, of up to chunkSizes[0]
// rows a statement, every statement of a call in one transaction. The
// first serve bulk copies, which write a table page by page.

// upsert describes the multi-row upsert of one table.
type upsert struct {
	name  string   // statement name
	model string   // entities type name
	cols  []string // columns, the key's first
	nkeys int      // the first nkeys columns are the key
	// update lists the columns a conflict replaces; none makes the write
	// of an existing row change nothing.
	update []string
}

// upsertRows writes n rows (distinct keys, in ascending key order, so that
// concurrent writers lock rows in the same order) atomically; args appends
// the values of row i, in u.cols order.
func (r Repo) upsertRows(db *gorm.DB, u upsert, n int, args func(out []any, i int) []any) error {
	cols := len(u.cols)
	parts := fixedChunks(n, rowsPerStatement(cols))
	keys := make([]clause.Column, u.nkeys)
	for i, c := range u.cols[:u.nkeys] {
		keys[i] = clause.Column{Name: c}
	}
	update := u.update
	if len(update) == 0 {
		// A no-op update of the key's last column: DO NOTHING needs the
		// model's schema on MySQL, which a table name alone lacks.
		update = u.cols[u.nkeys-1 : u.nkeys]
	}
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			size := p[1] - p[0]
			stmt, err := r.statement(tx, stmtKey{u.name, size}, func(tx *gorm.DB) *gorm.DB {
				values := make([]map[string]any, size)
				for i := range values {
					m := markers(cols*i, cols)
					values[i] = make(map[string]any, cols)
					for j, c := range u.cols {
						values[i][c] = m[j]
					}
				}
				return tx.Table(r.Tables.Name(u.model)).Clauses(clause.OnConflict{
					Columns: keys, DoUpdates: clause.AssignmentColumns(update),
				}).Create(values)
			})
			if err != nil {
				return err
			}
			buf := boundArgs.Get().(*[]any)
			a := (*buf)[:0]
			for i := p[0]; i < p[1]; i++ {
				a = args(a, i)
			}
			_, err = stmt.exec(tx, a...)
			clear(a) // hold no values in the pool
			*buf = a[:0]
			boundArgs.Put(buf)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// SetResults stores rows atomically, as SetResult stores each; when an
// invocation repeats, its last row wins.
func (r Repo) SetResults(db *gorm.DB, rows []entities.Result) error {
	rows = dedupeLast(rows, func(e *entities.Result) entities.Key { return e.InvocationID })
	return r.upsertRows(db, upsert{name: "results.set_many", model: "Result", cols: []string{"invocation_id", "result_data"}, nkeys: 1,
		update: []string{"result_data"}}, len(rows), func(out []any, i int) []any {
		return append(out, string(rows[i].InvocationID), nonNil(rows[i].ResultData))
	})
}

// SetExceptions stores rows atomically, as SetException stores each; when
// an invocation repeats, its last row wins.
func (r Repo) SetExceptions(db *gorm.DB, rows []entities.Exception) error {
	rows = dedupeLast(rows, func(e *entities.Exception) entities.Key { return e.InvocationID })
	return r.upsertRows(db, upsert{name: "exceptions.set_many", model: "Exception", cols: []string{"invocation_id", "exception_data"}, nkeys: 1,
		update: []string{"exception_data"}}, len(rows), func(out []any, i int) []any {
		return append(out, string(rows[i].InvocationID), nonNil(rows[i].ExceptionData))
	})
}

// StoreWorkflowRuns stores rows atomically, as StoreWorkflowRun stores
// each; when a workflow id repeats, its last row wins.
func (r Repo) StoreWorkflowRuns(db *gorm.DB, rows []entities.Workflow) error {
	rows = dedupeLast(rows, func(e *entities.Workflow) entities.Key { return e.WorkflowID })
	return r.upsertRows(db, upsert{name: "workflows.store_many", model: "Workflow", cols: workflowColumns, nkeys: 1,
		update: workflowColumns[1:]}, len(rows), func(out []any, i int) []any {
		e := &rows[i]
		return append(out, string(e.WorkflowID), string(e.WorkflowTypeKey), string(e.ParentWorkflowID))
	})
}

// SetWorkflowDataRows stores rows atomically, as SetWorkflowData stores
// each; when a (workflow, key) repeats, its last row wins.
func (r Repo) SetWorkflowDataRows(db *gorm.DB, rows []entities.WorkflowData) error {
	rows = dedupeLast(rows, func(e *entities.WorkflowData) entities.Key { return e.WorkflowID + "\x00" + e.DataKey })
	return r.upsertRows(db, upsert{name: "workflow_data.set_many", model: "WorkflowData",
		cols: []string{"workflow_id", "data_key", "data_value"}, nkeys: 2, update: []string{"data_value"}},
		len(rows), func(out []any, i int) []any {
			e := &rows[i]
			return append(out, string(e.WorkflowID), string(e.DataKey), nonNil(e.DataValue))
		})
}

// AddWorkflowSubInvocations adds rows atomically, as
// AddWorkflowSubInvocation adds each; rows already there change nothing.
func (r Repo) AddWorkflowSubInvocations(db *gorm.DB, rows []entities.WorkflowSubInvocation) error {
	rows = dedupeLast(rows, func(e *entities.WorkflowSubInvocation) entities.Key {
		return e.ParentWorkflowID + "\x00" + e.SubInvocationID
	})
	return r.upsertRows(db, upsert{name: "workflow_sub_invocations.add_many", model: "WorkflowSubInvocation",
		cols: []string{"parent_workflow_id", "sub_invocation_id"}, nkeys: 2}, len(rows), func(out []any, i int) []any {
		return append(out, string(rows[i].ParentWorkflowID), string(rows[i].SubInvocationID))
	})
}
