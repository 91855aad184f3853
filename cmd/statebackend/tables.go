package main

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// colKind is how a column is scanned: text, bytes or integer.
type colKind int

const (
	kStr colKind = iota
	kBytes
	kInt
)

// tableSpec says how copy and import-pynenc move one keyed table: its
// columns (the library's, whatever the source), its primary key, the
// canonical encoding that copies compare and checksum, and how a row is
// written through the library's API.
type tableSpec struct {
	model string // entities model name ("Result")
	cols  []string
	kinds []colKind
	nkeys int // the first nkeys columns are the primary key
	// canon encodes a row (values in cols order) canonically: two rows
	// with the same meaning encode alike whatever wrote them.
	canon func(v []any) ([]byte, error)
	// write stores rows in the target through the library.
	write func(ctx context.Context, w *writer, rows [][]any) error
}

// keyedTables lists the tables copied row by row, in copy order (runner
// contexts and invocations before what refers to them, for readers of a
// half-copied target). History has its own path (see copyHistory).
func keyedTables() []*tableSpec {
	return []*tableSpec{
		{
			model: "AppInfo", cols: []string{"app_id", "app_info_json"}, kinds: []colKind{kStr, kStr}, nkeys: 1,
			canon: func(v []any) ([]byte, error) {
				info, err := appInfoOf(v)
				if err != nil {
					return nil, err
				}
				doc, err := json.Marshal(info)
				return canon(nil).str(v[0].(string)).bytes(doc), err
			},
			write: perRow(func(ctx context.Context, w *writer, v []any) error {
				info, err := appInfoOf(v)
				if err != nil {
					return err
				}
				return w.dst.StoreAppInfo(ctx, info)
			}),
		},
		{
			model: "RunnerContext",
			cols:  []string{"runner_id", "runner_cls", "parent_ctx_id", "pid", "hostname", "thread_id"},
			kinds: []colKind{kStr, kStr, kStr, kInt, kStr, kInt}, nkeys: 1,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)).str(v[2].(string)).
					int(v[3].(int64)).str(v[4].(string)).int(v[5].(int64)), nil
			},
			write: perRow(func(ctx context.Context, w *writer, v []any) error {
				rc, err := w.runnerChain(v[0].(string))
				if err != nil {
					return err
				}
				return w.dst.StoreRunnerContext(ctx, rc)
			}),
		},
		{
			model: "Invocation",
			cols: []string{"invocation_id", "call_id_key", "task_id_key", "arguments_id", "serialized_arguments",
				"parent_invocation_id", "workflow_id", "workflow_type_key", "parent_workflow_id"},
			kinds: []colKind{kStr, kStr, kStr, kStr, kStr, kStr, kStr, kStr, kStr}, nkeys: 1,
			canon: func(v []any) ([]byte, error) {
				inv, err := invocationOf(v)
				if err != nil {
					return nil, err
				}
				args, err := json.Marshal(inv.Arguments)
				return canon(nil).str(string(inv.ID)).str(inv.CallID.Key()).bytes(args).
					str(string(inv.ParentInvocationID)).str(string(inv.Workflow.WorkflowID)).
					str(inv.Workflow.WorkflowType.Key()).str(string(inv.Workflow.ParentWorkflowID)), err
			},
			write: func(ctx context.Context, w *writer, rows [][]any) error {
				invs := make([]statebackend.Invocation, len(rows))
				for i, v := range rows {
					inv, err := invocationOf(v)
					if err != nil {
						return err
					}
					invs[i] = inv
				}
				return w.dst.UpsertInvocations(ctx, invs)
			},
		},
		{
			model: "Workflow", cols: []string{"workflow_id", "workflow_type_key", "parent_workflow_id"},
			kinds: []colKind{kStr, kStr, kStr}, nkeys: 1,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)).str(v[2].(string)), nil
			},
			write: perRow(func(ctx context.Context, w *writer, v []any) error {
				typ, err := state.ParseTaskID(v[1].(string))
				if err != nil {
					return fmt.Errorf("workflow %q: %w", v[0], err)
				}
				return w.dst.StoreWorkflowRun(ctx, statebackend.WorkflowIdentity{
					WorkflowID: statebackend.InvocationID(v[0].(string)), WorkflowType: typ,
					ParentWorkflowID: statebackend.InvocationID(v[2].(string)),
				})
			}),
		},
		{
			model: "WorkflowSubInvocation", cols: []string{"parent_workflow_id", "sub_invocation_id"},
			kinds: []colKind{kStr, kStr}, nkeys: 2,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)), nil
			},
			write: perRow(func(ctx context.Context, w *writer, v []any) error {
				return w.dst.StoreWorkflowSubInvocation(ctx,
					statebackend.InvocationID(v[0].(string)), statebackend.InvocationID(v[1].(string)))
			}),
		},
		{
			model: "WorkflowData", cols: []string{"workflow_id", "data_key", "data_value"},
			kinds: []colKind{kStr, kStr, kBytes}, nkeys: 2,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)).bytes(v[2].([]byte)), nil
			},
			write: perRow(func(ctx context.Context, w *writer, v []any) error {
				return w.dst.SetWorkflowData(ctx, statebackend.InvocationID(v[0].(string)), v[1].(string), v[2].([]byte))
			}),
		},
		payloadTable("Result", "result_data", func(b statebackend.Backend) func(context.Context, statebackend.InvocationID, []byte) error {
			return b.SetResult
		}),
		payloadTable("Exception", "exception_data", func(b statebackend.Backend) func(context.Context, statebackend.InvocationID, []byte) error {
			return b.SetException
		}),
	}
}

func payloadTable(model, column string, set func(statebackend.Backend) func(context.Context, statebackend.InvocationID, []byte) error) *tableSpec {
	return &tableSpec{
		model: model, cols: []string{"invocation_id", column}, kinds: []colKind{kStr, kBytes}, nkeys: 1,
		canon: func(v []any) ([]byte, error) {
			return canon(nil).str(v[0].(string)).bytes(v[1].([]byte)), nil
		},
		write: perRow(func(ctx context.Context, w *writer, v []any) error {
			return set(w.dst)(ctx, statebackend.InvocationID(v[0].(string)), v[1].([]byte))
		}),
	}
}

// writer is the target side of a copy.
type writer struct {
	dst statebackend.Backend
	// runners holds every runner context row of the source by id: storing
	// a context through the library stores its whole parent chain, which
	// must be complete.
	runners map[string][]any
}

// writeWorkers bounds the writes of one page in flight at once: Postgres
// and MySQL commit them in parallel (on up to their pool's 16
// connections), SQLite commits those that arrive together in one
// transaction. Tables without a batch write in the API (results, workflow
// data...) are written at the rate of this many commits at a time.
const writeWorkers = 32

// perRow makes a table writer from a one-row write, run on writeWorkers
// rows at once.
func perRow(fn func(ctx context.Context, w *writer, v []any) error) func(context.Context, *writer, [][]any) error {
	return func(ctx context.Context, w *writer, rows [][]any) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(writeWorkers)
		for _, v := range rows {
			g.Go(func() error { return fn(ctx, w, v) })
		}
		return g.Wait()
	}
}

// runnerChain builds the context of runner id with its parents from the
// source's rows.
func (w *writer) runnerChain(id string) (statebackend.RunnerContext, error) {
	var chain []*statebackend.RunnerContext
	for next := id; next != "" && len(chain) < state.MaxRunnerDepth; {
		v, ok := w.runners[next]
		if !ok {
			return statebackend.RunnerContext{}, fmt.Errorf("runner context %q has parent %q, which the source lacks: the library cannot store a context without its parent", id, next)
		}
		chain = append(chain, &statebackend.RunnerContext{
			RunnerID: next, RunnerCls: v[1].(string), PID: int(v[3].(int64)), Hostname: v[4].(string), ThreadID: v[5].(int64),
		})
		next = v[2].(string)
	}
	for i := 0; i+1 < len(chain); i++ {
		chain[i].Parent = chain[i+1]
	}
	return *chain[0], nil
}

// appInfoOf decodes an app_info row.
func appInfoOf(v []any) (statebackend.AppInfo, error) {
	var info statebackend.AppInfo
	if err := info.UnmarshalJSON([]byte(v[1].(string))); err != nil {
		return info, fmt.Errorf("app info %q: %w", v[0], err)
	}
	return info, nil
}

// invocationOf decodes an invocations row as the library reads it: the
// call from its key, the arguments from their JSON object.
func invocationOf(v []any) (statebackend.Invocation, error) {
	id := v[0].(string)
	bad := func(err error) (statebackend.Invocation, error) {
		return statebackend.Invocation{}, fmt.Errorf("invocation %q: %w", id, err)
	}
	call, err := state.ParseCallID(v[1].(string))
	if err != nil {
		return bad(err)
	}
	wfType, err := state.ParseTaskID(v[7].(string))
	if err != nil {
		return bad(err)
	}
	args := map[string]string{}
	if err := json.Unmarshal([]byte(v[4].(string)), &args); err != nil {
		return bad(fmt.Errorf("arguments are not a JSON object of strings: %w", err))
	}
	if args == nil {
		args = map[string]string{}
	}
	return statebackend.Invocation{
		ID: statebackend.InvocationID(id), CallID: call, Arguments: args,
		Workflow: statebackend.WorkflowIdentity{
			WorkflowID: statebackend.InvocationID(v[6].(string)), WorkflowType: wfType,
			ParentWorkflowID: statebackend.InvocationID(v[8].(string)),
		},
		ParentInvocationID: statebackend.InvocationID(v[5].(string)),
	}, nil
}

// historyCanon is the canonical encoding of a history record: pynenc's
// JSON form as the library writes it, under the invocation it is stored
// for.
func historyCanon(h statebackend.InvocationHistory) []byte {
	return h.AppendJSON(make([]byte, 0, 256))
}
