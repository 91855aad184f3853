package statebackend

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// UpsertInvocations implements Backend.
func (b *gormBackend) UpsertInvocations(ctx context.Context, invs []Invocation) (err error) {
	ctx, c := b.tel.start(ctx, opUpsertInvocations)
	defer c.end(&err)
	c.batch(len(invs))
	if len(invs) == 0 {
		return b.check(ctx)
	}
	rows := make([]entities.Invocation, len(invs))
	for i, inv := range invs {
		// The indexed field name is built only for the error message.
		if inv.Validate("invocation") != nil {
			return inv.Validate("invocations[" + strconv.Itoa(i) + "]")
		}
		row, err := invocationRow(inv)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	return b.write(ctx, "UpsertInvocations", func(db *gorm.DB) error {
		return b.repo.UpsertInvocations(db, rows)
	})
}

// Invocation implements Backend.
func (b *gormBackend) Invocation(ctx context.Context, id InvocationID) (_ Invocation, err error) {
	ctx, c := b.tel.start(ctx, opInvocation)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return Invocation{}, err
	}
	var row entities.Invocation
	var found bool
	err = b.read(ctx, "Invocation", func(db *gorm.DB) (err error) {
		row, found, err = b.repo.Invocation(db, string(id))
		return err
	})
	if err != nil {
		return Invocation{}, err
	}
	if !found {
		return Invocation{}, state.NotFound("invocation", string(id))
	}
	return invocationFromRow(row)
}

// Invocations implements Backend.
func (b *gormBackend) Invocations(ctx context.Context, ids []InvocationID) (_ map[InvocationID]Invocation, err error) {
	ctx, c := b.tel.start(ctx, opInvocations)
	defer c.end(&err)
	c.batch(len(ids))
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	var rows []entities.Invocation
	err = b.read(ctx, "Invocations", func(db *gorm.DB) (err error) {
		rows, err = b.repo.Invocations(db, keys)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[InvocationID]Invocation, len(rows))
	for _, row := range rows {
		inv, err := invocationFromRow(row)
		if err != nil {
			return nil, err
		}
		out[inv.ID] = inv
	}
	c.returned(len(out))
	return out, nil
}

// ChildInvocations implements Backend.
func (b *gormBackend) ChildInvocations(ctx context.Context, parent InvocationID) (_ []InvocationID, err error) {
	ctx, c := b.tel.start(ctx, opChildInvocations)
	defer c.end(&err)
	if err := parent.Validate("parent"); err != nil {
		return nil, err
	}
	var ids []string
	err = b.read(ctx, "ChildInvocations", func(db *gorm.DB) (err error) {
		ids, err = b.repo.ChildInvocations(db, string(parent))
		return err
	})
	c.returned(len(ids))
	return toInvocationIDs(ids), err
}

// InvocationIDsByWorkflow implements Backend.
func (b *gormBackend) InvocationIDsByWorkflow(ctx context.Context, f WorkflowFilter) (_ []InvocationID, err error) {
	ctx, c := b.tel.start(ctx, opInvocationIDsByWorkflow)
	defer c.end(&err)
	if err := f.Validate("filter"); err != nil {
		return nil, err
	}
	typeKey := ""
	if !f.WorkflowType.IsZero() {
		typeKey = f.WorkflowType.Key()
	}
	var ids []string
	err = b.read(ctx, "InvocationIDsByWorkflow", func(db *gorm.DB) (err error) {
		ids, err = b.repo.InvocationIDsByWorkflow(db, string(f.WorkflowID), typeKey)
		return err
	})
	c.returned(len(ids))
	return toInvocationIDs(ids), err
}

// invocationRow converts inv to its row; arguments become a JSON object.
func invocationRow(inv Invocation) (entities.Invocation, error) {
	args := inv.Arguments
	if args == nil {
		args = map[string]string{}
	}
	encoded, err := json.Marshal(args)
	if err != nil {
		return entities.Invocation{}, state.Invalid("Arguments", err.Error())
	}
	return entities.Invocation{
		InvocationID:        entities.Key(inv.ID),
		CallIDKey:           entities.Key(inv.CallID.Key()),
		TaskIDKey:           entities.Key(inv.CallID.Task.Key()),
		ArgumentsID:         entities.Key(inv.CallID.ArgsID),
		SerializedArguments: entities.Text(encoded),
		ParentInvocationID:  entities.Key(inv.ParentInvocationID),
		WorkflowID:          entities.Key(inv.Workflow.WorkflowID),
		WorkflowTypeKey:     entities.Key(inv.Workflow.WorkflowType.Key()),
		ParentWorkflowID:    entities.Key(inv.Workflow.ParentWorkflowID),
	}, nil
}

// invocationFromRow converts a stored row back; a row that does not parse
// (written by something else) is reported, never guessed at.
func invocationFromRow(row entities.Invocation) (Invocation, error) {
	bad := func(err error) (Invocation, error) {
		return Invocation{}, fmt.Errorf("statebackend: stored invocation %q is malformed: %w", row.InvocationID, err)
	}
	task, err := state.ParseTaskID(string(row.TaskIDKey))
	if err != nil {
		return bad(err)
	}
	wfType, err := state.ParseTaskID(string(row.WorkflowTypeKey))
	if err != nil {
		return bad(err)
	}
	args := map[string]string{}
	if err := json.Unmarshal([]byte(row.SerializedArguments), &args); err != nil {
		return bad(err)
	}
	if args == nil { // the JSON document "null"
		args = map[string]string{}
	}
	return Invocation{
		ID:        InvocationID(row.InvocationID),
		CallID:    CallID{Task: task, ArgsID: string(row.ArgumentsID)},
		Arguments: args,
		Workflow: WorkflowIdentity{
			WorkflowID:       InvocationID(row.WorkflowID),
			WorkflowType:     wfType,
			ParentWorkflowID: InvocationID(row.ParentWorkflowID),
		},
		ParentInvocationID: InvocationID(row.ParentInvocationID),
	}, nil
}

func toInvocationIDs(ids []string) []InvocationID {
	out := make([]InvocationID, len(ids))
	for i, id := range ids {
		out[i] = InvocationID(id)
	}
	return out
}
