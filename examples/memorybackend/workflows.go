package memorybackend

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/taskstate/statebackend/state"
)

// StoreWorkflowRun implements state.Backend.
func (b *Backend) StoreWorkflowRun(ctx context.Context, wf state.WorkflowIdentity) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := wf.Validate("workflow"); err != nil {
		return err
	}
	b.write(func(a *app) {
		if _, ok := a.workflows[wf.WorkflowID]; !ok { // storing it again is no change
			a.changes.add(state.ChangeWorkflowRun, wf.WorkflowID, "", time.Time{})
		}
		a.workflows[wf.WorkflowID] = wf
	})
	return nil
}

// WorkflowTypes implements state.Backend.
func (b *Backend) WorkflowTypes(ctx context.Context) ([]state.TaskID, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	types := []state.TaskID{}
	b.read(func(a *app) {
		for _, wf := range a.workflows {
			types = append(types, wf.WorkflowType)
		}
	})
	slices.SortFunc(types, func(x, y state.TaskID) int { return cmp.Compare(x.Key(), y.Key()) })
	return slices.Compact(types), nil
}

// WorkflowRuns implements state.Backend.
func (b *Backend) WorkflowRuns(ctx context.Context) ([]state.WorkflowIdentity, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b.workflowRuns(func(state.WorkflowIdentity) bool { return true }), nil
}

// WorkflowRunsOfType implements state.Backend.
func (b *Backend) WorkflowRunsOfType(ctx context.Context, typ state.TaskID) ([]state.WorkflowIdentity, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := typ.Validate("typ"); err != nil {
		return nil, err
	}
	return b.workflowRuns(func(wf state.WorkflowIdentity) bool { return wf.WorkflowType == typ }), nil
}

// workflowRuns returns the runs that match, ascending by workflow id.
func (b *Backend) workflowRuns(match func(state.WorkflowIdentity) bool) []state.WorkflowIdentity {
	runs := []state.WorkflowIdentity{}
	b.read(func(a *app) {
		for _, wf := range a.workflows {
			if match(wf) {
				runs = append(runs, wf)
			}
		}
	})
	slices.SortFunc(runs, func(x, y state.WorkflowIdentity) int { return cmp.Compare(x.WorkflowID, y.WorkflowID) })
	return runs
}

// SetWorkflowData implements state.Backend.
func (b *Backend) SetWorkflowData(ctx context.Context, workflowID state.InvocationID, key string, value []byte) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := validateDataKey(workflowID, key); err != nil {
		return err
	}
	value = copyBytes(value)
	b.write(func(a *app) { a.data[workflowDataKey{workflowID, key}] = value })
	return nil
}

// WorkflowData implements state.Backend.
func (b *Backend) WorkflowData(ctx context.Context, workflowID state.InvocationID, key string) ([]byte, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := validateDataKey(workflowID, key); err != nil {
		return nil, err
	}
	var value []byte
	var ok bool
	b.read(func(a *app) { value, ok = a.data[workflowDataKey{workflowID, key}] })
	if !ok {
		return nil, state.NotFound("workflow data", string(workflowID)+"/"+key)
	}
	return copyBytes(value), nil
}

func validateDataKey(workflowID state.InvocationID, key string) error {
	if err := workflowID.Validate("workflowID"); err != nil {
		return err
	}
	return state.ValidateRequiredKey("key", key)
}

// StoreWorkflowSubInvocation implements state.Backend.
func (b *Backend) StoreWorkflowSubInvocation(ctx context.Context, workflowID, subInvocationID state.InvocationID) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := workflowID.Validate("workflowID"); err != nil {
		return err
	}
	if err := subInvocationID.Validate("subInvocationID"); err != nil {
		return err
	}
	b.write(func(a *app) {
		subs := a.subInvs[workflowID]
		if subs == nil {
			subs = make(map[state.InvocationID]struct{})
			a.subInvs[workflowID] = subs
		}
		subs[subInvocationID] = struct{}{} // a set: adding twice changes nothing
	})
	return nil
}

// WorkflowSubInvocations implements state.Backend.
func (b *Backend) WorkflowSubInvocations(ctx context.Context, workflowID state.InvocationID) ([]state.InvocationID, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := workflowID.Validate("workflowID"); err != nil {
		return nil, err
	}
	ids := []state.InvocationID{}
	b.read(func(a *app) {
		for id := range a.subInvs[workflowID] {
			ids = append(ids, id)
		}
	})
	slices.Sort(ids)
	return ids, nil
}
