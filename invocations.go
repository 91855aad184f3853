package statebackend

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// UpsertInvocations implements Backend.
func (s *Store) UpsertInvocations(ctx context.Context, invs []Invocation) (err error) {
	c := s.begin(ctx, op.UpsertInvocations)
	defer c.end(&err)
	c.tel.Batch(len(invs))
	if len(invs) == 0 {
		return c.check()
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
	return c.write(func(db *gorm.DB) error {
		return s.repo.UpsertInvocations(db, rows)
	})
}

// Invocation implements Backend.
func (s *Store) Invocation(ctx context.Context, id InvocationID) (_ Invocation, err error) {
	c := s.begin(ctx, op.Invocation)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return Invocation{}, err
	}
	var inv Invocation
	var found bool
	var bad error // a stored row that does not decode: not the read's failure
	err = c.read(func(db *gorm.DB) (err error) {
		found, err = s.repo.Invocation(db, string(id), func(row *entities.Invocation, args []byte) error {
			row.InvocationID = entities.Key(id)
			inv, bad = decodeInvocation(row, args)
			return nil
		})
		return err
	})
	if err != nil {
		return Invocation{}, err
	}
	if !found {
		return Invocation{}, state.NotFound("invocation", string(id))
	}
	return inv, bad
}

// Invocations implements Backend.
func (s *Store) Invocations(ctx context.Context, ids []InvocationID) (_ map[InvocationID]Invocation, err error) {
	c := s.begin(ctx, op.Invocations)
	defer c.end(&err)
	c.tel.Batch(len(ids))
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = string(id)
	}
	var rows []entities.Invocation
	err = c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.Invocations(db, keys)
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
	c.tel.Returned(len(out))
	return out, nil
}

// ChildInvocations implements Backend.
func (s *Store) ChildInvocations(ctx context.Context, parent InvocationID) (_ []InvocationID, err error) {
	c := s.begin(ctx, op.ChildInvocations)
	defer c.end(&err)
	if err := parent.Validate("parent"); err != nil {
		return nil, err
	}
	var ids []string
	err = c.read(func(db *gorm.DB) (err error) {
		ids, err = s.repo.ChildInvocations(db, string(parent))
		return err
	})
	c.tel.Returned(len(ids))
	return toInvocationIDs(ids), err
}

// InvocationIDsByWorkflow implements Backend.
func (s *Store) InvocationIDsByWorkflow(ctx context.Context, f WorkflowFilter) (_ []InvocationID, err error) {
	c := s.begin(ctx, op.InvocationIDsByWorkflow)
	defer c.end(&err)
	if err := f.Validate("filter"); err != nil {
		return nil, err
	}
	typeKey := ""
	if !f.WorkflowType.IsZero() {
		typeKey = f.WorkflowType.Key()
	}
	var ids []string
	err = c.read(func(db *gorm.DB) (err error) {
		ids, err = s.repo.InvocationIDsByWorkflow(db, string(f.WorkflowID), typeKey)
		return err
	})
	c.tel.Returned(len(ids))
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
	return decodeInvocation(&row, []byte(row.SerializedArguments))
}

// decodeInvocation is invocationFromRow with the stored arguments in args
// instead of row.SerializedArguments (which it ignores); it keeps nothing
// of args.
func decodeInvocation(row *entities.Invocation, args []byte) (Invocation, error) {
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
	arguments := map[string]string{}
	if err := json.Unmarshal(args, &arguments); err != nil {
		return bad(err)
	}
	if arguments == nil { // the JSON document "null"
		arguments = map[string]string{}
	}
	return Invocation{
		ID:        InvocationID(row.InvocationID),
		CallID:    CallID{Task: task, ArgsID: string(row.ArgumentsID)},
		Arguments: arguments,
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
