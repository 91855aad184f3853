package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// ctx returns a context cancelled when the test ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// baseTime is a fixed instant with a non-zero microsecond part, so tests
// catch backends that drop sub-second precision.
var baseTime = time.Date(2026, 1, 1, 12, 0, 0, 123456000, time.UTC)

// task returns a TaskID in module "conformance.tasks".
func task(name string) state.TaskID {
	return state.TaskID{Module: "conformance.tasks", FuncName: name}
}

// topLevel returns a top-level invocation of fn with the given arguments
// (nil for none): it starts its own workflow.
func topLevel(id state.InvocationID, fn string, args map[string]string) state.Invocation {
	tk := task(fn)
	argsID := state.NoArgs
	if len(args) > 0 {
		argsID = "args-" + string(id)
	}
	return state.Invocation{
		ID:        id,
		CallID:    state.CallID{Task: tk, ArgsID: argsID},
		Arguments: args,
		Workflow:  state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk},
	}
}

// child returns an invocation of fn created by parent, in parent's workflow.
func child(id state.InvocationID, fn string, parent state.Invocation) state.Invocation {
	inv := topLevel(id, fn, nil)
	inv.Workflow = parent.Workflow
	inv.ParentInvocationID = parent.ID
	return inv
}

// record returns a history record with status s at ts.
func record(s state.Status, ts time.Time) state.InvocationHistory {
	return state.InvocationHistory{
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: s, RunnerID: "runner-1", Timestamp: ts},
		RunnerContextID: "runner-1",
	}
}

// mustUpsert upserts invs or fails the test.
func mustUpsert(t *testing.T, b state.Backend, invs ...state.Invocation) {
	t.Helper()
	if err := b.UpsertInvocations(ctx(t), invs); err != nil {
		t.Fatalf("UpsertInvocations: %v", err)
	}
}

// mustAddHistory adds h to ids or fails the test.
func mustAddHistory(t *testing.T, b state.Backend, h state.InvocationHistory, ids ...state.InvocationID) {
	t.Helper()
	if err := b.AddHistory(ctx(t), ids, h); err != nil {
		t.Fatalf("AddHistory(%v, %s at %s): %v", ids, h.StatusRecord.Status, h.Timestamp, err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// collect drains a batched iterator, failing the test on an error; it also
// returns the batch sizes.
func collect[T any](t *testing.T, seq func(func([]T, error) bool)) (all []T, sizes []int) {
	t.Helper()
	for batch, err := range seq {
		if err != nil {
			t.Fatalf("iteration failed after %d items: %v", len(all), err)
		}
		all = append(all, batch...)
		sizes = append(sizes, len(batch))
	}
	return all, sizes
}
