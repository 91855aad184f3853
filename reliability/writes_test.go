package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/taskstate/statebackend"
)

// writeOp is one write method of the Backend, called with a key that
// makes its data its own, with a check of what it left in the database.
// The deadline and failure tests run every write through this table.
type writeOp struct {
	name string // the method, as the errors' "statebackend: <Op>:" prefix names it
	// write calls the method, writing the data of key.
	write func(ctx context.Context, b statebackend.Backend, key string) error
	// state reports whether the data of key is in the database in full
	// (true) or not at all (false); a partial write is an error.
	state func(ctx context.Context, b statebackend.Backend, key string) (bool, error)
}

// purgeKey is the key whose data Purge's state checks: Purge "writes" by
// removing it.
const purgeKey = "purge-sentinel"

// writeOps returns the write methods; batch writes (UpsertInvocations,
// AddHistory) cover rows invocations, so that above 500 they run as a
// multi-statement transaction.
func writeOps(rows int) []writeOp {
	ids := func(key string) []statebackend.InvocationID {
		out := make([]statebackend.InvocationID, rows)
		for i := range out {
			out[i] = statebackend.InvocationID(fmt.Sprintf("%s-%04d", key, i))
		}
		return out
	}
	task := statebackend.TaskID{Module: "reliability", FuncName: "deadline"}
	inv := func(id statebackend.InvocationID) statebackend.Invocation {
		return statebackend.Invocation{
			ID:        id,
			CallID:    statebackend.CallID{Task: task, ArgsID: statebackend.NoArgs},
			Arguments: map[string]string{},
			Workflow:  statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task},
		}
	}
	stamp := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	record := statebackend.InvocationHistory{
		Timestamp:    stamp,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, RunnerID: "r", Timestamp: stamp},
	}
	// all turns the per-row presence of a batch into all (true), none
	// (false), or an error.
	all := func(present, total int) (bool, error) {
		switch present {
		case 0:
			return false, nil
		case total:
			return true, nil
		}
		return false, fmt.Errorf("%d of %d rows written: the write was not atomic", present, total)
	}
	found := func(err error) (bool, error) {
		if errors.Is(err, statebackend.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	payload := func(key string) []byte { return []byte("payload of " + key + "\x00\xff") }
	return []writeOp{
		{
			name: "UpsertInvocations",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				invs := make([]statebackend.Invocation, 0, rows)
				for _, id := range ids(key) {
					invs = append(invs, inv(id))
				}
				return b.UpsertInvocations(ctx, invs)
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				got, err := b.Invocations(ctx, ids(key))
				if err != nil {
					return false, err
				}
				for id, v := range got {
					if want := inv(id); !reflect.DeepEqual(v, want) {
						return false, fmt.Errorf("invocation %s: got %+v, want %+v", id, v, want)
					}
				}
				return all(len(got), rows)
			},
		},
		{
			name: "AddHistory",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.AddHistory(ctx, ids(key), record)
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				present := 0
				for _, id := range ids(key) {
					h, err := b.History(ctx, id)
					if err != nil {
						return false, err
					}
					if len(h) > 1 {
						return false, fmt.Errorf("history of %s: %d records, want at most 1", id, len(h))
					}
					present += len(h)
				}
				return all(present, rows)
			},
		},
		{
			name: "SetResult",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.SetResult(ctx, statebackend.InvocationID(key), payload(key))
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				got, err := b.Result(ctx, statebackend.InvocationID(key))
				if ok, err := found(err); !ok {
					return false, err
				}
				if !bytes.Equal(got, payload(key)) {
					return false, fmt.Errorf("result %q, want %q", got, payload(key))
				}
				return true, nil
			},
		},
		{
			name: "SetException",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.SetException(ctx, statebackend.InvocationID(key), payload(key))
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				got, err := b.Exception(ctx, statebackend.InvocationID(key))
				if ok, err := found(err); !ok {
					return false, err
				}
				return bytes.Equal(got, payload(key)), nil
			},
		},
		{
			name: "StoreRunnerContext",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.StoreRunnerContext(ctx, statebackend.RunnerContext{
					RunnerCls: "Runner", RunnerID: key, PID: 7, Hostname: "host",
					Parent: &statebackend.RunnerContext{RunnerCls: "Parent", RunnerID: key + "-parent"},
				})
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				rcs, err := b.RunnerContexts(ctx, []string{key, key + "-parent"})
				if err != nil {
					return false, err
				}
				return all(len(rcs), 2)
			},
		},
		{
			name: "StoreWorkflowRun",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.StoreWorkflowRun(ctx, statebackend.WorkflowIdentity{WorkflowID: statebackend.InvocationID(key), WorkflowType: task})
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				runs, err := b.WorkflowRunsOfType(ctx, task)
				if err != nil {
					return false, err
				}
				return slices.ContainsFunc(runs, func(w statebackend.WorkflowIdentity) bool {
					return w.WorkflowID == statebackend.InvocationID(key)
				}), nil
			},
		},
		{
			name: "SetWorkflowData",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.SetWorkflowData(ctx, statebackend.InvocationID(key), "k", payload(key))
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				got, err := b.WorkflowData(ctx, statebackend.InvocationID(key), "k")
				if ok, err := found(err); !ok {
					return false, err
				}
				return bytes.Equal(got, payload(key)), nil
			},
		},
		{
			name: "StoreWorkflowSubInvocation",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.StoreWorkflowSubInvocation(ctx, statebackend.InvocationID(key), statebackend.InvocationID(key+"-sub"))
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				subs, err := b.WorkflowSubInvocations(ctx, statebackend.InvocationID(key))
				if err != nil || len(subs) > 1 {
					return false, errors.Join(err, fmt.Errorf("sub-invocations %v", subs))
				}
				return len(subs) == 1, nil
			},
		},
		{
			name: "StoreAppInfo",
			write: func(ctx context.Context, b statebackend.Backend, key string) error {
				return b.StoreAppInfo(ctx, statebackend.AppInfo{AppID: key, Module: "m", ConfigValues: map[string]any{}})
			},
			state: func(ctx context.Context, b statebackend.Backend, key string) (bool, error) {
				_, err := b.AppInfo(ctx, key)
				return found(err)
			},
		},
		{
			// Purge "writes" the absence of everything: its state is whether
			// the sentinel result written before it is gone.
			name: "Purge",
			write: func(ctx context.Context, b statebackend.Backend, _ string) error {
				return b.Purge(ctx)
			},
			state: func(ctx context.Context, b statebackend.Backend, _ string) (bool, error) {
				_, err := b.Result(ctx, purgeKey)
				if errors.Is(err, statebackend.ErrNotFound) {
					return true, nil
				}
				return false, err
			},
		},
	}
}

// preparePurge writes the sentinel whose removal shows that a Purge ran.
func preparePurge(ctx context.Context, b statebackend.Backend) error {
	return b.SetResult(ctx, purgeKey, []byte("x"))
}
