package statebackend

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// StoreWorkflowRun implements Backend.
func (b *gormBackend) StoreWorkflowRun(ctx context.Context, wf WorkflowIdentity) (err error) {
	ctx, c := b.tel.start(ctx, opStoreWorkflowRun)
	defer c.end(&err)
	if err := wf.Validate("workflow"); err != nil {
		return err
	}
	row := entities.Workflow{
		WorkflowID:       entities.Key(wf.WorkflowID),
		WorkflowTypeKey:  entities.Key(wf.WorkflowType.Key()),
		ParentWorkflowID: entities.Key(wf.ParentWorkflowID),
	}
	return b.write(ctx, "StoreWorkflowRun", func(db *gorm.DB) error {
		return b.repo.StoreWorkflowRun(db, row)
	})
}

// WorkflowTypes implements Backend.
func (b *gormBackend) WorkflowTypes(ctx context.Context) (_ []TaskID, err error) {
	ctx, c := b.tel.start(ctx, opWorkflowTypes)
	defer c.end(&err)
	var keys []string
	err = b.readReplica(ctx, "WorkflowTypes", nil, func(db *gorm.DB) (err error) {
		keys, err = b.repo.WorkflowTypes(db)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]TaskID, len(keys))
	for i, k := range keys {
		t, err := state.ParseTaskID(k)
		if err != nil {
			return nil, fmt.Errorf("statebackend: stored workflow type is malformed: %w", err)
		}
		out[i] = t
	}
	c.returned(len(out))
	return out, nil
}

// WorkflowRuns implements Backend.
func (b *gormBackend) WorkflowRuns(ctx context.Context) (_ []WorkflowIdentity, err error) {
	ctx, c := b.tel.start(ctx, opWorkflowRuns)
	defer c.end(&err)
	runs, err := b.workflowRuns(ctx, "WorkflowRuns", "")
	c.returned(len(runs))
	return runs, err
}

// WorkflowRunsOfType implements Backend.
func (b *gormBackend) WorkflowRunsOfType(ctx context.Context, typ TaskID) (_ []WorkflowIdentity, err error) {
	ctx, c := b.tel.start(ctx, opWorkflowRunsOfType)
	defer c.end(&err)
	if err := typ.Validate("typ"); err != nil {
		return nil, err
	}
	runs, err := b.workflowRuns(ctx, "WorkflowRunsOfType", typ.Key())
	c.returned(len(runs))
	return runs, err
}

func (b *gormBackend) workflowRuns(ctx context.Context, op, typeKey string) ([]WorkflowIdentity, error) {
	var rows []entities.Workflow
	err := b.readReplica(ctx, op, nil, func(db *gorm.DB) (err error) {
		rows, err = b.repo.WorkflowRuns(db, typeKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]WorkflowIdentity, len(rows))
	for i, row := range rows {
		t, err := state.ParseTaskID(string(row.WorkflowTypeKey))
		if err != nil {
			return nil, fmt.Errorf("statebackend: stored workflow %q is malformed: %w", row.WorkflowID, err)
		}
		out[i] = WorkflowIdentity{
			WorkflowID:       InvocationID(row.WorkflowID),
			WorkflowType:     t,
			ParentWorkflowID: InvocationID(row.ParentWorkflowID),
		}
	}
	return out, nil
}

// SetWorkflowData implements Backend.
func (b *gormBackend) SetWorkflowData(ctx context.Context, workflowID InvocationID, key string, value []byte) (err error) {
	ctx, c := b.tel.start(ctx, opSetWorkflowData)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return err
	}
	if err := state.ValidateRequiredKey("key", key); err != nil {
		return err
	}
	row := entities.WorkflowData{WorkflowID: entities.Key(workflowID), DataKey: entities.Key(key), DataValue: value}
	return b.write(ctx, "SetWorkflowData", func(db *gorm.DB) error {
		return b.repo.SetWorkflowData(db, row)
	})
}

// WorkflowData implements Backend.
func (b *gormBackend) WorkflowData(ctx context.Context, workflowID InvocationID, key string) (_ []byte, err error) {
	ctx, c := b.tel.start(ctx, opWorkflowData)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return nil, err
	}
	if err := state.ValidateRequiredKey("key", key); err != nil {
		return nil, err
	}
	var row entities.WorkflowData
	var found bool
	err = b.read(ctx, "WorkflowData", func(db *gorm.DB) (err error) {
		row, found, err = b.repo.WorkflowData(db, string(workflowID), key)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, state.NotFound("workflow data", string(workflowID)+"/"+key)
	}
	return row.DataValue, nil
}

// StoreWorkflowSubInvocation implements Backend.
func (b *gormBackend) StoreWorkflowSubInvocation(ctx context.Context, workflowID, subInvocationID InvocationID) (err error) {
	ctx, c := b.tel.start(ctx, opStoreWorkflowSubInvocation)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return err
	}
	if err := subInvocationID.Validate("subInvocationID"); err != nil {
		return err
	}
	row := entities.WorkflowSubInvocation{
		ParentWorkflowID: entities.Key(workflowID), SubInvocationID: entities.Key(subInvocationID),
	}
	return b.write(ctx, "StoreWorkflowSubInvocation", func(db *gorm.DB) error {
		return b.repo.AddWorkflowSubInvocation(db, row)
	})
}

// WorkflowSubInvocations implements Backend.
func (b *gormBackend) WorkflowSubInvocations(ctx context.Context, workflowID InvocationID) (_ []InvocationID, err error) {
	ctx, c := b.tel.start(ctx, opWorkflowSubInvocations)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return nil, err
	}
	var ids []string
	err = b.read(ctx, "WorkflowSubInvocations", func(db *gorm.DB) (err error) {
		ids, err = b.repo.WorkflowSubInvocations(db, string(workflowID))
		return err
	})
	c.returned(len(ids))
	return toInvocationIDs(ids), err
}
