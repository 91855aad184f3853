package schematest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// Data is what Fill wrote, as the backend's API must read it back.
type Data struct {
	AppID       string
	Invocations []state.Invocation
	History     map[state.InvocationID][]state.InvocationHistory
	Results     map[state.InvocationID][]byte
	Runner      state.RunnerContext
	Runs        []state.WorkflowIdentity
	WFData      map[state.InvocationID][]byte // under the key "data"
	Subs        map[state.InvocationID][]state.InvocationID
	Info        state.AppInfo
}

// Fill writes n invocations (every fifth a top-level workflow, the others
// its children) with two history records each, a result each, a workflow
// run, workflow data and a sub-invocation set per workflow, a runner
// chain and app info, straight into the tables of t on db in the form
// v0.1.0 wrote them: every table of version 1 gets rows.
func Fill(db *gorm.DB, t entities.Tables, appID string, n int) (*Data, error) {
	d := &Data{
		AppID: appID, History: map[state.InvocationID][]state.InvocationHistory{}, Results: map[state.InvocationID][]byte{},
		WFData: map[state.InvocationID][]byte{}, Subs: map[state.InvocationID][]state.InvocationID{},
	}
	base := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	var invs []entities.Invocation
	var hist []entities.History
	var results []entities.Result
	var runs []entities.Workflow
	var wfData []entities.WorkflowData
	var subs []entities.WorkflowSubInvocation
	for i := range n {
		id := state.InvocationID(fmt.Sprintf("inv-%05d", i))
		task := state.TaskID{Module: "fill.tasks", FuncName: "task_" + strconv.Itoa(i%3)}
		inv := state.Invocation{ID: id, CallID: state.CallID{Task: task, ArgsID: "args-" + strconv.Itoa(i)},
			Arguments: map[string]string{"i": strconv.Itoa(i)}}
		if root := i - i%5; root == i {
			inv.Workflow = state.WorkflowIdentity{WorkflowID: id, WorkflowType: task}
			d.Runs = append(d.Runs, inv.Workflow)
			runs = append(runs, entities.Workflow{WorkflowID: entities.Key(id), WorkflowTypeKey: entities.Key(task.Key())})
			d.WFData[id] = []byte{byte(i), 0, 0xff}
			wfData = append(wfData, entities.WorkflowData{WorkflowID: entities.Key(id), DataKey: "data", DataValue: d.WFData[id]})
		} else {
			inv.Workflow = d.Invocations[root].Workflow
			inv.ParentInvocationID = d.Invocations[root].ID
			wf := inv.Workflow.WorkflowID
			d.Subs[wf] = append(d.Subs[wf], id)
			subs = append(subs, entities.WorkflowSubInvocation{ParentWorkflowID: entities.Key(wf), SubInvocationID: entities.Key(id)})
		}
		d.Invocations = append(d.Invocations, inv)
		args, _ := json.Marshal(inv.Arguments)
		invs = append(invs, entities.Invocation{
			InvocationID: entities.Key(id), CallIDKey: entities.Key(inv.CallID.Key()), TaskIDKey: entities.Key(task.Key()),
			ArgumentsID: entities.Key(inv.CallID.ArgsID), SerializedArguments: entities.Text(args),
			ParentInvocationID: entities.Key(inv.ParentInvocationID), WorkflowID: entities.Key(inv.Workflow.WorkflowID),
			WorkflowTypeKey: entities.Key(inv.Workflow.WorkflowType.Key()), ParentWorkflowID: entities.Key(inv.Workflow.ParentWorkflowID),
		})
		for k, s := range []state.Status{state.StatusRegistered, state.StatusSuccess} {
			ts := base.Add(time.Duration(2*i+k) * time.Millisecond)
			h := state.InvocationHistory{InvocationID: id, Timestamp: ts, StatusRecord: state.StatusRecord{Status: s, Timestamp: ts},
				RunnerContextID: "fill-runner"}
			d.History[id] = append(d.History[id], h)
			hist = append(hist, entities.History{InvocationID: entities.Key(id), HistoryTimestamp: state.ToMicros(ts),
				HistoryStatus: entities.Key(s), HistoryJSON: entities.Text(h.AppendJSON(nil))})
		}
		d.Results[id] = []byte("result " + strconv.Itoa(i))
		results = append(results, entities.Result{InvocationID: entities.Key(id), ResultData: d.Results[id]})
	}
	d.Runner = state.RunnerContext{RunnerCls: "Thread", RunnerID: "fill-runner", PID: 2, Hostname: "h", ThreadID: 3,
		Parent: &state.RunnerContext{RunnerCls: "Process", RunnerID: "fill-parent", PID: 1, Hostname: "h", ThreadID: 1}}
	runners := []entities.RunnerContext{
		{RunnerID: "fill-parent", RunnerCls: "Process", PID: 1, Hostname: "h", ThreadID: 1},
		{RunnerID: "fill-runner", RunnerCls: "Thread", ParentCtxID: "fill-parent", PID: 2, Hostname: "h", ThreadID: 3},
	}
	d.Info = state.AppInfo{AppID: appID, Module: "fill", ConfigValues: map[string]any{"retention": "none"}}
	info, err := json.Marshal(d.Info)
	if err != nil {
		return nil, err
	}
	exc := []entities.Exception{{InvocationID: entities.Key(d.Invocations[0].ID), ExceptionData: []byte("boom")}}
	for _, w := range []struct {
		model string
		rows  any
	}{
		{"Invocation", invs}, {"History", hist}, {"Result", results}, {"Exception", exc}, {"Workflow", runs},
		{"WorkflowData", wfData}, {"WorkflowSubInvocation", subs}, {"RunnerContext", runners},
		{"AppInfo", []entities.AppInfo{{AppID: entities.Key(appID), AppInfoJSON: entities.Text(info)}}},
	} {
		if err := db.Table(t.Name(w.model)).CreateInBatches(w.rows, 200).Error; err != nil {
			return nil, fmt.Errorf("schematest: fill %s: %w", t.Name(w.model), err)
		}
	}
	return d, nil
}

// Check reads everything Fill wrote through b and reports the first
// difference.
func (d *Data) Check(ctx context.Context, b state.Backend) error {
	ids := make([]state.InvocationID, len(d.Invocations))
	for i, inv := range d.Invocations {
		ids[i] = inv.ID
	}
	all, err := b.InvocationIDsByWorkflow(ctx, state.WorkflowFilter{})
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(all, ids) {
		return fmt.Errorf("invocation ids %v, want %v", all, ids)
	}
	invs, err := b.Invocations(ctx, ids)
	if err != nil {
		return err
	}
	for _, inv := range d.Invocations {
		if !reflect.DeepEqual(invs[inv.ID], inv) {
			return fmt.Errorf("invocation %s reads %+v, want %+v", inv.ID, invs[inv.ID], inv)
		}
		h, err := b.History(ctx, inv.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(h, d.History[inv.ID]) {
			return fmt.Errorf("history of %s reads %+v, want %+v", inv.ID, h, d.History[inv.ID])
		}
		r, err := b.Result(ctx, inv.ID)
		if err != nil || string(r) != string(d.Results[inv.ID]) {
			return fmt.Errorf("result of %s reads %q, %v", inv.ID, r, err)
		}
		if want, ok := d.Subs[inv.ID]; ok {
			got, err := b.WorkflowSubInvocations(ctx, inv.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				return fmt.Errorf("sub-invocations of %s read %v, %v", inv.ID, got, err)
			}
		}
		if want, ok := d.WFData[inv.ID]; ok {
			got, err := b.WorkflowData(ctx, inv.ID, "data")
			if err != nil || string(got) != string(want) {
				return fmt.Errorf("workflow data of %s reads %v, %v", inv.ID, got, err)
			}
		}
	}
	if e, err := b.Exception(ctx, d.Invocations[0].ID); err != nil || string(e) != "boom" {
		return fmt.Errorf("exception reads %q, %v", e, err)
	}
	runs, err := b.WorkflowRuns(ctx)
	if err != nil || !reflect.DeepEqual(runs, d.Runs) {
		return fmt.Errorf("workflow runs read %v, %v", runs, err)
	}
	rc, err := b.RunnerContext(ctx, d.Runner.RunnerID)
	if err != nil || !reflect.DeepEqual(rc, d.Runner) {
		return fmt.Errorf("runner context reads %+v, %v", rc, err)
	}
	info, err := b.AppInfo(ctx, d.AppID)
	if err != nil || !reflect.DeepEqual(info, d.Info) {
		return fmt.Errorf("app info reads %+v, %v", info, err)
	}
	return nil
}
