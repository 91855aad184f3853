package memorybackend

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/taskstate/statebackend/state"
)

// UpsertInvocations implements state.Backend. Every invocation is validated
// before the first is written, so a bad batch writes nothing.
func (b *Backend) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	for i, inv := range invs {
		if err := inv.Validate("invocations[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	b.write(func(a *app) {
		for _, inv := range invs { // in order, so the last of a repeated id wins
			a.invocations[inv.ID] = copyInvocation(inv)
		}
	})
	return nil
}

// Invocation implements state.Backend.
func (b *Backend) Invocation(ctx context.Context, id state.InvocationID) (state.Invocation, error) {
	if err := b.check(ctx); err != nil {
		return state.Invocation{}, err
	}
	if err := id.Validate("id"); err != nil {
		return state.Invocation{}, err
	}
	var inv state.Invocation
	var ok bool
	b.read(func(a *app) {
		if inv, ok = a.invocations[id]; ok {
			inv = copyInvocation(inv)
		}
	})
	if !ok {
		return state.Invocation{}, state.NotFound("invocation", string(id))
	}
	return inv, nil
}

// Invocations implements state.Backend.
func (b *Backend) Invocations(ctx context.Context, ids []state.InvocationID) (map[state.InvocationID]state.Invocation, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return nil, err
	}
	out := make(map[state.InvocationID]state.Invocation, len(ids))
	b.read(func(a *app) {
		for _, id := range ids {
			if inv, ok := a.invocations[id]; ok {
				out[id] = copyInvocation(inv)
			}
		}
	})
	return out, nil
}

// ChildInvocations implements state.Backend.
func (b *Backend) ChildInvocations(ctx context.Context, parent state.InvocationID) ([]state.InvocationID, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := parent.Validate("parent"); err != nil {
		return nil, err
	}
	return b.invocationIDs(func(inv state.Invocation) bool {
		return inv.ParentInvocationID == parent
	}), nil
}

// InvocationIDsByWorkflow implements state.Backend.
func (b *Backend) InvocationIDsByWorkflow(ctx context.Context, f state.WorkflowFilter) ([]state.InvocationID, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := f.Validate("filter"); err != nil {
		return nil, err
	}
	return b.invocationIDs(func(inv state.Invocation) bool {
		// A zero field does not filter; when both are set both must match.
		return (f.WorkflowID == "" || inv.Workflow.WorkflowID == f.WorkflowID) &&
			(f.WorkflowType.IsZero() || inv.Workflow.WorkflowType == f.WorkflowType)
	}), nil
}

// invocationIDs returns the ids of the invocations that match, ascending.
func (b *Backend) invocationIDs(match func(state.Invocation) bool) []state.InvocationID {
	ids := []state.InvocationID{}
	b.read(func(a *app) {
		for id, inv := range a.invocations {
			if match(inv) {
				ids = append(ids, id)
			}
		}
	})
	slices.Sort(ids)
	return ids
}

// copyInvocation returns inv with a map of its own, never nil: the stored
// invocation must not share the caller's map, nor a returned one ours.
func copyInvocation(inv state.Invocation) state.Invocation {
	args := make(map[string]string, len(inv.Arguments))
	maps.Copy(args, inv.Arguments)
	inv.Arguments = args
	return inv
}
