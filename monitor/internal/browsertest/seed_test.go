package browsertest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// The data the browser walks through: a shop whose orders run as a
// workflow (charge the card, reserve the stock, send the receipt), with
// the background tasks around them, on two workers. It looks like what a
// pynenc app writes, so that the screenshots show the monitor as it is
// used: the ids are UUIDs, the exceptions pynenc's JSON.
var (
	taskOrder   = state.TaskID{Module: "shop.orders", FuncName: "process_order"}
	taskCharge  = state.TaskID{Module: "shop.payments", FuncName: "charge_card"}
	taskReserve = state.TaskID{Module: "shop.inventory", FuncName: "reserve_stock"}
	taskReceipt = state.TaskID{Module: "shop.email", FuncName: "send_receipt"}
	taskResize  = state.TaskID{Module: "shop.images", FuncName: "resize_thumbnail"}
	taskSync    = state.TaskID{Module: "shop.inventory", FuncName: "sync_warehouse"}
)

// The runner contexts: on each worker host a process runner, its worker
// processes, and their threads.
const (
	runnerMain1   = "ProcessRunner@worker-1:4211"
	runnerProc1   = "ProcessRunner@worker-1:4211/proc-4230"
	runnerThread1 = "ProcessRunner@worker-1:4211/proc-4230/thread-3"
	runnerMain2   = "ThreadRunner@worker-2:977"
	runnerThread2 = "ThreadRunner@worker-2:977/thread-1"
)

// uuid returns a UUID-shaped invocation id derived from name: stable from
// run to run, so that screenshots and failures read the same.
func uuid(name string) state.InvocationID {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(name)))
	return state.InvocationID(h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32])
}

// The invocations the test clicks through.
var (
	// orderID starts the workflow run of order 1042 and has three
	// children: chargeID (failed, with a traceback), reserveID (running:
	// the live update ends it) and receiptID (pending).
	orderID   = uuid("order-1042")
	chargeID  = uuid("order-1042/charge")
	reserveID = uuid("order-1042/reserve")
	receiptID = uuid("order-1042/receipt")
	// lateID is registered only: the live update of the failed list
	// fails it.
	lateID = uuid("late")
)

// chargeError is what pynenc stores for a task that raised.
var chargeError = mustJSON(map[string]string{
	"error_name": "PaymentDeclined",
	"error_data": `{"code": "card_declined", "decline_code": "insufficient_funds"}`,
	"traceback": `Traceback (most recent call last):
  File "/srv/shop/.venv/lib/python3.12/site-packages/pynenc/runner/base_runner.py", line 214, in run_invocation
    result = invocation.task.func(**invocation.arguments.kwargs)
  File "/srv/shop/shop/payments.py", line 58, in charge_card
    charge = gateway.charge(order["card_token"], amount_cents)
  File "/srv/shop/shop/gateway.py", line 131, in charge
    raise PaymentDeclined(code=body["code"], decline_code=body["decline_code"])
shop.gateway.PaymentDeclined: card_declined (insufficient_funds)`,
})

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// openSeeded opens a Store on a new SQLite file in t's temporary
// directory, through the public API, and writes the shop's state into
// it with history in the hour before now. The Store is closed when t
// ends.
func openSeeded(t *testing.T, now time.Time) *statebackend.Store {
	t.Helper()
	s, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "state.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	seed(t, s, now)
	return s
}

// seeder writes the test data, failing t on the first error.
type seeder struct {
	t   *testing.T
	ctx context.Context
	b   state.Backend
	now time.Time
}

func (s seeder) must(what string, err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("seed: %s: %v", what, err)
	}
}

// hist adds the history record of id's status st, written by runner, ago
// before now.
func (s seeder) hist(id state.InvocationID, st state.Status, runner string, ago time.Duration) {
	s.t.Helper()
	ts := s.now.Add(-ago).Truncate(time.Microsecond)
	s.must("history", s.b.AddHistory(s.ctx, []state.InvocationID{id}, state.InvocationHistory{
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: st, RunnerID: runner, Timestamp: ts},
		RunnerContextID: runner,
	}))
}

// run adds the history of a run of id: registered and pending shortly
// before it starts, running on runner from start ago, and end (when not
// empty) after took.
func (s seeder) run(id state.InvocationID, runner string, start time.Duration, end state.Status, took time.Duration) {
	s.t.Helper()
	s.hist(id, state.StatusRegistered, "", start+1500*time.Millisecond)
	s.hist(id, state.StatusPending, "", start+700*time.Millisecond)
	s.hist(id, state.StatusRunning, runner, start)
	if end != "" {
		s.hist(id, end, runner, start-took)
	}
}

func seed(t *testing.T, b state.Backend, now time.Time) {
	t.Helper()
	s := seeder{t: t, ctx: t.Context(), b: b, now: now}
	s.must("app info", b.StoreAppInfo(s.ctx, state.AppInfo{
		AppID: "shop", Module: "shop.app", AppVariable: "app", ModuleFilepath: "/srv/shop/shop/app.py",
	}))

	main1 := state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerMain1, PID: 4211, Hostname: "worker-1", ThreadID: 1}
	proc1 := state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerProc1, PID: 4230, Hostname: "worker-1", ThreadID: 1, Parent: &main1}
	thread1 := state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerThread1, PID: 4230, Hostname: "worker-1", ThreadID: 3, Parent: &proc1}
	main2 := state.RunnerContext{RunnerCls: "ThreadRunner", RunnerID: runnerMain2, PID: 977, Hostname: "worker-2", ThreadID: 1}
	thread2 := state.RunnerContext{RunnerCls: "ThreadRunner", RunnerID: runnerThread2, PID: 977, Hostname: "worker-2", ThreadID: 2, Parent: &main2}
	s.must("runner", b.StoreRunnerContext(s.ctx, thread1))
	s.must("runner", b.StoreRunnerContext(s.ctx, thread2))

	// The order's workflow run and its three steps.
	order := state.WorkflowIdentity{WorkflowID: orderID, WorkflowType: taskOrder}
	invs := []state.Invocation{
		{ID: orderID, CallID: state.CallID{Task: taskOrder, ArgsID: "a1042"}, Workflow: order,
			Arguments: map[string]string{"order_id": "1042", "customer": `{"id": 881, "email": "ada@example.com"}`}},
		{ID: chargeID, CallID: state.CallID{Task: taskCharge, ArgsID: "c1042"}, Workflow: order, ParentInvocationID: orderID,
			Arguments: map[string]string{"order_id": "1042", "amount_cents": "12900", "card_token": `"tok_visa_4242"`}},
		{ID: reserveID, CallID: state.CallID{Task: taskReserve, ArgsID: "r1042"}, Workflow: order, ParentInvocationID: orderID,
			Arguments: map[string]string{"order_id": "1042", "items": `[{"sku": "MUG-01", "qty": 2}]`}},
		{ID: receiptID, CallID: state.CallID{Task: taskReceipt, ArgsID: "e1042"}, Workflow: order, ParentInvocationID: orderID,
			Arguments: map[string]string{"order_id": "1042"}},
		{ID: lateID, CallID: state.CallID{Task: taskCharge, ArgsID: "c1077"}, Workflow: state.WorkflowIdentity{WorkflowID: lateID, WorkflowType: taskCharge},
			Arguments: map[string]string{"order_id": "1077", "amount_cents": "4500"}},
	}
	// The background work of the last hour: earlier orders, thumbnails,
	// warehouse syncs; a few failed.
	type bg struct {
		id     state.InvocationID
		runner string
		start  time.Duration
		end    state.Status
		took   time.Duration
	}
	var background []bg
	for i := range 36 {
		var task state.TaskID
		var args map[string]string
		switch i % 4 {
		case 0:
			task, args = taskCharge, map[string]string{"order_id": fmt.Sprint(1000 + i), "amount_cents": fmt.Sprint(1500 + 250*i)}
		case 1:
			task, args = taskResize, map[string]string{"image": fmt.Sprintf(`"products/%d.jpg"`, 300+i), "width": "320"}
		case 2:
			task, args = taskReceipt, map[string]string{"order_id": fmt.Sprint(1000 + i)}
		default:
			task, args = taskSync, map[string]string{"warehouse": `"berlin"`}
		}
		id := uuid(fmt.Sprint("background-", i))
		invs = append(invs, state.Invocation{ID: id, CallID: state.CallID{Task: task, ArgsID: fmt.Sprint("b", i)},
			Workflow: state.WorkflowIdentity{WorkflowID: id, WorkflowType: task}, Arguments: args})
		runner, end := runnerThread2, state.StatusSuccess
		if i%3 == 0 {
			runner = runnerThread1
		}
		if i%7 == 3 {
			end = state.StatusFailed
		}
		if i == 35 {
			end = state.StatusRetry
		}
		// One run at a time on each thread: a run lasts less than the
		// 90 seconds between two starts.
		background = append(background, bg{id, runner, 58*time.Minute - time.Duration(i)*90*time.Second, end, time.Duration(20+(i%5)*12) * time.Second})
	}
	s.must("invocations", b.UpsertInvocations(s.ctx, invs))
	s.must("workflow run", b.StoreWorkflowRun(s.ctx, order))
	for _, id := range []state.InvocationID{chargeID, reserveID, receiptID} {
		s.must("sub-invocation", b.StoreWorkflowSubInvocation(s.ctx, orderID, id))
	}
	s.must("workflow data", b.SetWorkflowData(s.ctx, orderID, "customer", []byte(`{"id": 881, "tier": "gold", "country": "DE"}`)))
	s.must("workflow data", b.SetWorkflowData(s.ctx, orderID, "step", []byte(`"charge_card"`)))

	for _, r := range background {
		s.run(r.id, r.runner, r.start, r.end, r.took)
		switch r.end {
		case state.StatusSuccess:
			s.must("result", b.SetResult(s.ctx, r.id, []byte(`{"ok": true}`)))
		case state.StatusFailed:
			s.must("exception", b.SetException(s.ctx, r.id, mustJSON(map[string]string{
				"error_name": "TimeoutError",
				"traceback":  "Traceback (most recent call last):\n  File \"/srv/shop/shop/http.py\", line 40, in post\n    raise TimeoutError(\"warehouse API did not answer in 30s\")\nTimeoutError: warehouse API did not answer in 30s",
			})))
		}
	}
	// The order runs in the worker process, its steps in its thread.
	s.run(orderID, runnerProc1, 9*time.Minute, "", 0)
	s.run(chargeID, runnerThread1, 8*time.Minute, state.StatusFailed, 4*time.Second)
	s.must("exception", b.SetException(s.ctx, chargeID, chargeError))
	s.run(reserveID, runnerThread1, 7*time.Minute, "", 0)
	s.hist(receiptID, state.StatusRegistered, "", 7*time.Minute)
	s.hist(receiptID, state.StatusPending, "", 6*time.Minute)
	s.hist(lateID, state.StatusRegistered, "", 2*time.Minute)
}
