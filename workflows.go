package statebackend

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// StoreWorkflowRun implements Backend.
func (s *Store) StoreWorkflowRun(ctx context.Context, wf WorkflowIdentity) (err error) {
	c := s.begin(ctx, op.StoreWorkflowRun)
	defer c.end(&err)
	if err := wf.Validate("workflow"); err != nil {
		return err
	}
	row := entities.Workflow{
		WorkflowID:       entities.Key(wf.WorkflowID),
		WorkflowTypeKey:  entities.Key(wf.WorkflowType.Key()),
		ParentWorkflowID: entities.Key(wf.ParentWorkflowID),
	}
	return c.write(func(db *gorm.DB) error {
		return s.repo.StoreWorkflowRun(db, row)
	})
}

// WorkflowTypes implements Backend.
func (s *Store) WorkflowTypes(ctx context.Context) (_ []TaskID, err error) {
	c := s.begin(ctx, op.WorkflowTypes)
	defer c.end(&err)
	var keys []string
	err = c.readReplica(nil, func(db *gorm.DB) (err error) {
		keys, err = s.repo.WorkflowTypes(db)
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
	c.tel.Returned(len(out))
	return out, nil
}

// WorkflowRuns implements Backend.
func (s *Store) WorkflowRuns(ctx context.Context) (_ []WorkflowIdentity, err error) {
	c := s.begin(ctx, op.WorkflowRuns)
	defer c.end(&err)
	runs, err := s.workflowRuns(c, "")
	c.tel.Returned(len(runs))
	return runs, err
}

// WorkflowRunsOfType implements Backend.
func (s *Store) WorkflowRunsOfType(ctx context.Context, typ TaskID) (_ []WorkflowIdentity, err error) {
	c := s.begin(ctx, op.WorkflowRunsOfType)
	defer c.end(&err)
	if err := typ.Validate("typ"); err != nil {
		return nil, err
	}
	runs, err := s.workflowRuns(c, typ.Key())
	c.tel.Returned(len(runs))
	return runs, err
}

func (s *Store) workflowRuns(c call, typeKey string) ([]WorkflowIdentity, error) {
	var rows []entities.Workflow
	err := c.readReplica(nil, func(db *gorm.DB) (err error) {
		rows, err = s.repo.WorkflowRuns(db, typeKey)
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
func (s *Store) SetWorkflowData(ctx context.Context, workflowID InvocationID, key string, value []byte) (err error) {
	c := s.begin(ctx, op.SetWorkflowData)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return err
	}
	if err := state.ValidateRequiredKey("key", key); err != nil {
		return err
	}
	row := entities.WorkflowData{WorkflowID: entities.Key(workflowID), DataKey: entities.Key(key), DataValue: value}
	return c.write(func(db *gorm.DB) error {
		return s.repo.SetWorkflowData(db, row)
	})
}

// WorkflowData implements Backend.
func (s *Store) WorkflowData(ctx context.Context, workflowID InvocationID, key string) (_ []byte, err error) {
	c := s.begin(ctx, op.WorkflowData)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return nil, err
	}
	if err := state.ValidateRequiredKey("key", key); err != nil {
		return nil, err
	}
	var row entities.WorkflowData
	var found bool
	err = c.read(func(db *gorm.DB) (err error) {
		row, found, err = s.repo.WorkflowData(db, string(workflowID), key)
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
func (s *Store) StoreWorkflowSubInvocation(ctx context.Context, workflowID, subInvocationID InvocationID) (err error) {
	c := s.begin(ctx, op.StoreWorkflowSubInvocation)
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
	return c.write(func(db *gorm.DB) error {
		return s.repo.AddWorkflowSubInvocation(db, row)
	})
}

// WorkflowSubInvocations implements Backend.
func (s *Store) WorkflowSubInvocations(ctx context.Context, workflowID InvocationID) (_ []InvocationID, err error) {
	c := s.begin(ctx, op.WorkflowSubInvocations)
	defer c.end(&err)
	if err := workflowID.Validate("workflowID"); err != nil {
		return nil, err
	}
	var ids []string
	err = c.read(func(db *gorm.DB) (err error) {
		ids, err = s.repo.WorkflowSubInvocations(db, string(workflowID))
		return err
	})
	c.tel.Returned(len(ids))
	return toInvocationIDs(ids), err
}
