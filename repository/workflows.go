package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// StoreWorkflowRun stores row, replacing an earlier run with its id.
func (r Repo) StoreWorkflowRun(db *gorm.DB, row entities.Workflow) error {
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "workflow_id"}}, UpdateAll: true,
	}).Create(&row).Error
}

// WorkflowTypes returns the distinct workflow type keys, ascending.
func (r Repo) WorkflowTypes(db *gorm.DB) ([]string, error) {
	var keys []string
	err := db.Model(&entities.Workflow{}).Distinct("workflow_type_key").
		Order("workflow_type_key").Pluck("workflow_type_key", &keys).Error
	return keys, err
}

// WorkflowRuns returns the runs of type typeKey (all when empty), ascending
// by workflow id.
func (r Repo) WorkflowRuns(db *gorm.DB, typeKey string) ([]entities.Workflow, error) {
	q := db.Order("workflow_id")
	if typeKey != "" {
		q = q.Where("workflow_type_key = ?", typeKey)
	}
	var rows []entities.Workflow
	err := q.Find(&rows).Error
	return rows, err
}

// SetWorkflowData stores row, replacing the value under its key.
func (r Repo) SetWorkflowData(db *gorm.DB, row entities.WorkflowData) error {
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "workflow_id"}, {Name: "data_key"}}, UpdateAll: true,
	}).Create(&row).Error
}

// WorkflowData returns the value under (workflowID, key); found is false
// when there is none.
func (r Repo) WorkflowData(db *gorm.DB, workflowID, key string) (value []byte, found bool, err error) {
	var row entities.WorkflowData
	res := db.Where("workflow_id = ? AND data_key = ?", workflowID, key).Limit(1).Find(&row)
	return nonNil(row.DataValue), res.RowsAffected > 0, res.Error
}

// AddWorkflowSubInvocation adds sub to the sub-invocations of workflowID;
// adding it again changes nothing.
func (r Repo) AddWorkflowSubInvocation(db *gorm.DB, workflowID, sub string) error {
	row := entities.WorkflowSubInvocation{
		ParentWorkflowID: entities.Key(workflowID), SubInvocationID: entities.Key(sub),
	}
	return db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
}

// WorkflowSubInvocations returns the sub-invocations of workflowID, ascending.
func (r Repo) WorkflowSubInvocations(db *gorm.DB, workflowID string) ([]string, error) {
	var ids []string
	err := db.Model(&entities.WorkflowSubInvocation{}).Where("parent_workflow_id = ?", workflowID).
		Order("sub_invocation_id").Pluck("sub_invocation_id", &ids).Error
	return ids, err
}
