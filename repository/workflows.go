package repository

import (
	"database/sql"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// workflowColumns lists the columns of entities.Workflow in scan order.
var workflowColumns = []string{"workflow_id", "workflow_type_key", "parent_workflow_id"}

// StoreWorkflowRun stores row, replacing an earlier run with its id.
func (r Repo) StoreWorkflowRun(db *gorm.DB, row entities.Workflow) error {
	stmt, err := r.statement(db, stmtKey{name: "workflows.store"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name("Workflow")).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "workflow_id"}},
			DoUpdates: clause.AssignmentColumns(workflowColumns[1:]),
		}).Create(map[string]any{"workflow_id": arg(0), "workflow_type_key": arg(1), "parent_workflow_id": arg(2)})
	})
	if err != nil {
		return err
	}
	_, err = stmt.exec(db, string(row.WorkflowID), string(row.WorkflowTypeKey), string(row.ParentWorkflowID))
	return err
}

// WorkflowTypes returns the distinct workflow type keys, ascending.
func (r Repo) WorkflowTypes(db *gorm.DB) ([]string, error) {
	stmt, err := r.statement(db, stmtKey{name: "workflows.types"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.Workflow{}).Distinct("workflow_type_key").
			Order("workflow_type_key").Find(&[]entities.Workflow{})
	})
	if err != nil {
		return nil, err
	}
	keys := []string{}
	err = stmt.each(db, scanStrings(&keys))
	return keys, err
}

// WorkflowRuns returns the runs of type typeKey (all when empty), ascending
// by workflow id.
func (r Repo) WorkflowRuns(db *gorm.DB, typeKey string) ([]entities.Workflow, error) {
	key := stmtKey{name: "workflows.all"}
	if typeKey != "" {
		key.name = "workflows.of_type"
	}
	stmt, err := r.statement(db, key, func(tx *gorm.DB) *gorm.DB {
		q := tx.Model(&entities.Workflow{}).Select(workflowColumns)
		if typeKey != "" {
			q = q.Where("workflow_type_key = ?", arg(0))
		}
		return q.Order("workflow_id").Find(&[]entities.Workflow{})
	})
	if err != nil {
		return nil, err
	}
	var out []entities.Workflow
	err = stmt.each(db, func(rows *sql.Rows) error {
		var w entities.Workflow
		err := rows.Scan((*string)(&w.WorkflowID), (*string)(&w.WorkflowTypeKey), (*string)(&w.ParentWorkflowID))
		out = append(out, w)
		return err
	}, typeKey)
	return out, err
}

// SetWorkflowData stores row, replacing the value under its key.
func (r Repo) SetWorkflowData(db *gorm.DB, row entities.WorkflowData) error {
	stmt, err := r.statement(db, stmtKey{name: "workflow_data.set"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name("WorkflowData")).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "workflow_id"}, {Name: "data_key"}},
			DoUpdates: clause.AssignmentColumns([]string{"data_value"}),
		}).Create(map[string]any{"workflow_id": arg(0), "data_key": arg(1), "data_value": arg(2)})
	})
	if err != nil {
		return err
	}
	_, err = stmt.exec(db, string(row.WorkflowID), string(row.DataKey), nonNil(row.DataValue))
	return err
}

// WorkflowData returns the row under (workflowID, key); found is false when
// there is none.
func (r Repo) WorkflowData(db *gorm.DB, workflowID, key string) (row entities.WorkflowData, found bool, err error) {
	stmt, err := r.statement(db, stmtKey{name: "workflow_data.get"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.WorkflowData{}).Select("data_value").
			Where("workflow_id = ? AND data_key = ?", arg(0), arg(1)).Find(&[]entities.WorkflowData{})
	})
	if err != nil {
		return row, false, err
	}
	var value []byte
	found, err = stmt.first(db, func(rows *sql.Rows) error { return rows.Scan(&value) }, workflowID, key)
	return entities.WorkflowData{WorkflowID: entities.Key(workflowID), DataKey: entities.Key(key), DataValue: nonNil(value)}, found, err
}

// AddWorkflowSubInvocation adds row to the sub-invocations of its workflow;
// adding it again changes nothing.
func (r Repo) AddWorkflowSubInvocation(db *gorm.DB, row entities.WorkflowSubInvocation) error {
	stmt, err := r.statement(db, stmtKey{name: "workflow_sub_invocations.add"}, func(tx *gorm.DB) *gorm.DB {
		// The model gives MySQL's dialector the key for its no-op update.
		return tx.Model(&entities.WorkflowSubInvocation{}).Clauses(clause.OnConflict{DoNothing: true}).
			Create(map[string]any{"parent_workflow_id": arg(0), "sub_invocation_id": arg(1)})
	})
	if err != nil {
		return err
	}
	_, err = stmt.exec(db, string(row.ParentWorkflowID), string(row.SubInvocationID))
	return err
}

// WorkflowSubInvocations returns the sub-invocations of workflowID, ascending.
func (r Repo) WorkflowSubInvocations(db *gorm.DB, workflowID string) ([]string, error) {
	stmt, err := r.statement(db, stmtKey{name: "workflow_sub_invocations.of"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.WorkflowSubInvocation{}).Select("sub_invocation_id").
			Where("parent_workflow_id = ?", arg(0)).Order("sub_invocation_id").Find(&[]entities.WorkflowSubInvocation{})
	})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	err = stmt.each(db, scanStrings(&ids), workflowID)
	return ids, err
}
