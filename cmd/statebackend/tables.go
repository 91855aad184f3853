package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
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
// half-copied target). History has its own path (see syncHistory).
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
			write: func(ctx context.Context, w *writer, rows [][]any) error {
				out := make([]entities.Workflow, len(rows))
				for i, v := range rows {
					typ, err := state.ParseTaskID(v[1].(string))
					if err != nil {
						return fmt.Errorf("workflow %q: %w", v[0], err)
					}
					wf := statebackend.WorkflowIdentity{
						WorkflowID: statebackend.InvocationID(v[0].(string)), WorkflowType: typ,
						ParentWorkflowID: statebackend.InvocationID(v[2].(string)),
					}
					if err := wf.Validate("workflow"); err != nil {
						return err
					}
					out[i] = entities.Workflow{
						WorkflowID: entities.Key(wf.WorkflowID), WorkflowTypeKey: entities.Key(typ.Key()),
						ParentWorkflowID: entities.Key(wf.ParentWorkflowID),
					}
				}
				return w.repo.StoreWorkflowRuns(w.db.WithContext(ctx), out)
			},
		},
		{
			model: "WorkflowSubInvocation", cols: []string{"parent_workflow_id", "sub_invocation_id"},
			kinds: []colKind{kStr, kStr}, nkeys: 2,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)), nil
			},
			write: func(ctx context.Context, w *writer, rows [][]any) error {
				out := make([]entities.WorkflowSubInvocation, len(rows))
				for i, v := range rows {
					wf, sub := statebackend.InvocationID(v[0].(string)), statebackend.InvocationID(v[1].(string))
					if err := wf.Validate("workflow id"); err != nil {
						return err
					}
					if err := sub.Validate("sub-invocation id"); err != nil {
						return err
					}
					out[i] = entities.WorkflowSubInvocation{ParentWorkflowID: entities.Key(wf), SubInvocationID: entities.Key(sub)}
				}
				return w.repo.AddWorkflowSubInvocations(w.db.WithContext(ctx), out)
			},
		},
		{
			model: "WorkflowData", cols: []string{"workflow_id", "data_key", "data_value"},
			kinds: []colKind{kStr, kStr, kBytes}, nkeys: 2,
			canon: func(v []any) ([]byte, error) {
				return canon(nil).str(v[0].(string)).str(v[1].(string)).bytes(v[2].([]byte)), nil
			},
			write: func(ctx context.Context, w *writer, rows [][]any) error {
				out := make([]entities.WorkflowData, len(rows))
				for i, v := range rows {
					wf := statebackend.InvocationID(v[0].(string))
					if err := wf.Validate("workflow id"); err != nil {
						return err
					}
					if err := state.ValidateRequiredKey("workflow data key", v[1].(string)); err != nil {
						return err
					}
					out[i] = entities.WorkflowData{WorkflowID: entities.Key(wf), DataKey: entities.Key(v[1].(string)), DataValue: v[2].([]byte)}
				}
				return w.repo.SetWorkflowDataRows(w.db.WithContext(ctx), out)
			},
		},
		payloadTable("Result", "result_data", func(w *writer, db *gorm.DB, ids []entities.Key, data [][]byte) error {
			rows := make([]entities.Result, len(ids))
			for i := range ids {
				rows[i] = entities.Result{InvocationID: ids[i], ResultData: data[i]}
			}
			return w.repo.SetResults(db, rows)
		}),
		payloadTable("Exception", "exception_data", func(w *writer, db *gorm.DB, ids []entities.Key, data [][]byte) error {
			rows := make([]entities.Exception, len(ids))
			for i := range ids {
				rows[i] = entities.Exception{InvocationID: ids[i], ExceptionData: data[i]}
			}
			return w.repo.SetExceptions(db, rows)
		}),
	}
}

func payloadTable(model, column string, set func(w *writer, db *gorm.DB, ids []entities.Key, data [][]byte) error) *tableSpec {
	return &tableSpec{
		model: model, cols: []string{"invocation_id", column}, kinds: []colKind{kStr, kBytes}, nkeys: 1,
		canon: func(v []any) ([]byte, error) {
			return canon(nil).str(v[0].(string)).bytes(v[1].([]byte)), nil
		},
		write: func(ctx context.Context, w *writer, rows [][]any) error {
			ids := make([]entities.Key, len(rows))
			data := make([][]byte, len(rows))
			for i, v := range rows {
				id := statebackend.InvocationID(v[0].(string))
				if err := id.Validate("id"); err != nil {
					return err
				}
				ids[i], data[i] = entities.Key(id), v[1].([]byte)
			}
			return set(w, w.db.WithContext(ctx), ids, data)
		},
	}
}

// writer is the target side of a copy.
type writer struct {
	dst statebackend.Backend
	// repo and db write the tables whose API calls take one row each
	// (results, exceptions, workflow runs, sub-invocations, workflow data)
	// a page at a time: the repository's many-row forms of the statements
	// those calls run, one transaction a page.
	repo repository.Repo
	db   *gorm.DB
	// transient is the target database's classification of errors worth
	// retrying (dialect.Dialect.Transient).
	transient func(error) string
	// runners holds every runner context row of the source by id: storing
	// a context through the library stores its whole parent chain, which
	// must be complete.
	runners map[string][]any
}

// retry runs the write fn again while it fails on an error the target's
// database says is worth retrying (SQLite's short busy timeout, as the
// target's library handle and the copy's own share the file; a deadlock
// with the history written at once), until ctx ends or for a minute at
// most; fn is atomic, so it either wrote everything or nothing.
func (w *writer) retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(time.Minute)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := fn()
		if err == nil || w.transient(err) == "" || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// writeWorkers bounds the one-row writes of one page in flight at once
// (app info and runner contexts, tables of a few rows): Postgres and
// MySQL commit them in parallel (on up to their pool's 16 connections),
// SQLite commits those that arrive together in one transaction.
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
