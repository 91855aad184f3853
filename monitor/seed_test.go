package monitor_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// The seeded data: a shop app with a workflow that has steps and a
// sub-workflow, runners with parents, many small invocations to page
// through, and invocations whose every value is hostile.
var (
	taskAdd      = state.TaskID{Module: "shop.tasks", FuncName: "add"}
	taskPipeline = state.TaskID{Module: "shop.flows", FuncName: "pipeline"}
	taskRefund   = state.TaskID{Module: "shop.flows", FuncName: "refund"}
	// taskEvil's key is `evil<script>alert("task")</script>.x'"<b>`.
	taskEvil = state.TaskID{Module: `evil<script>alert("task")</script>`, FuncName: `x'"<b>`}
)

const (
	runnerA      = "proc-a"
	runnerWorker = "proc-a/worker-1"
	runnerThread = "proc-a/worker-1/thread-7"
	runnerB      = "proc-b"
	runnerEvil   = `javascript:alert('runner')`

	wf       = state.InvocationID("wf-1")
	sub      = state.InvocationID("sub-1")
	subChild = state.InvocationID("sub-1-child")
	// evilID holds a slash, a query, a fragment and markup.
	evilID = state.InvocationID(`evil/<script>alert("id")</script>?x=1&y=2#frag`)
	// dotsID is stored with history only, and is a path's ".." segment.
	dotsID = state.InvocationID("..")

	// bulkCount invocations "bulk-NN" of taskAdd, every fifth failed.
	bulkCount = 37

	tracebackText = "Traceback (most recent call last):\n  File \"shop/tasks.py\", line 3, in add\n    raise ValueError(\"boom\")\nValueError: boom"
)

func step(i int) state.InvocationID { return state.InvocationID(fmt.Sprintf("wf-1-step-%d", i)) }

func bulk(i int) state.InvocationID { return state.InvocationID(fmt.Sprintf("bulk-%02d", i)) }

// seed writes the data above into b, with history in the last hour
// before now.
func seed(t testing.TB, b state.Backend, now time.Time) {
	t.Helper()
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed: %s: %v", what, err)
		}
	}
	must("app info", b.StoreAppInfo(ctx, state.AppInfo{AppID: "shop", Module: "shop.app", AppVariable: "app", ModuleFilepath: "/srv/shop/app.py"}))
	must("evil app info", b.StoreAppInfo(ctx, state.AppInfo{AppID: `<script>alert("app")</script>`, Module: `m"<i>`}))

	root := state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerA, PID: 100, Hostname: "host-a", ThreadID: 1}
	worker := state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerWorker, PID: 101, Hostname: "host-a", ThreadID: 1, Parent: &root}
	thread := state.RunnerContext{RunnerCls: "ThreadRunner", RunnerID: runnerThread, PID: 101, Hostname: "host-a", ThreadID: 7, Parent: &worker}
	must("runner", b.StoreRunnerContext(ctx, thread))
	must("runner", b.StoreRunnerContext(ctx, state.RunnerContext{RunnerCls: "ProcessRunner", RunnerID: runnerB, PID: 200, Hostname: "host-b", ThreadID: 1}))
	must("runner", b.StoreRunnerContext(ctx, state.RunnerContext{RunnerCls: `<script>alert("cls")</script>`, RunnerID: runnerEvil, Hostname: `host"<x>`}))

	pipeline := state.WorkflowIdentity{WorkflowID: wf, WorkflowType: taskPipeline}
	refund := state.WorkflowIdentity{WorkflowID: sub, WorkflowType: taskRefund, ParentWorkflowID: wf}
	invs := []state.Invocation{
		{ID: wf, CallID: state.CallID{Task: taskPipeline, ArgsID: "order-7"}, Arguments: map[string]string{"order": `{"id": 7}`}, Workflow: pipeline},
		{ID: sub, CallID: state.CallID{Task: taskRefund, ArgsID: "r"}, Workflow: refund, ParentInvocationID: wf},
		{ID: subChild, CallID: state.CallID{Task: taskAdd, ArgsID: "c"}, Workflow: refund, ParentInvocationID: sub},
		{ID: evilID, CallID: state.CallID{Task: taskEvil, ArgsID: "e"}, Workflow: state.WorkflowIdentity{WorkflowID: evilID, WorkflowType: taskEvil},
			Arguments: map[string]string{`<script>alert("argname")</script>`: `<script>alert("arg")</script>`, "url": "javascript:alert('arg')"}},
	}
	for i := 1; i <= 3; i++ {
		invs = append(invs, state.Invocation{ID: step(i), CallID: state.CallID{Task: taskAdd, ArgsID: fmt.Sprint("s", i)},
			Arguments: map[string]string{"x": fmt.Sprint(i)}, Workflow: pipeline, ParentInvocationID: wf})
	}
	for i := range bulkCount {
		id := bulk(i)
		invs = append(invs, state.Invocation{ID: id, CallID: state.CallID{Task: taskAdd, ArgsID: string(id)},
			Workflow: state.WorkflowIdentity{WorkflowID: id, WorkflowType: taskAdd}})
	}
	must("invocations", b.UpsertInvocations(ctx, invs))
	must("workflow run", b.StoreWorkflowRun(ctx, pipeline))
	must("workflow run", b.StoreWorkflowRun(ctx, refund))
	for _, id := range []state.InvocationID{step(1), step(2), step(3), sub} {
		must("sub-invocation", b.StoreWorkflowSubInvocation(ctx, wf, id))
	}
	must("workflow data", b.SetWorkflowData(ctx, wf, "progress", []byte(`{"done": 2}`)))
	must("workflow data", b.SetWorkflowData(ctx, wf, "evil", []byte(`<script>alert("data")</script>`)))

	at := func(ago time.Duration) time.Time { return now.Add(-ago).Truncate(time.Microsecond) }
	hist := func(id state.InvocationID, st state.Status, runner string, ago time.Duration) {
		t.Helper()
		ts := at(ago)
		must("history", b.AddHistory(ctx, []state.InvocationID{id}, state.InvocationHistory{
			Timestamp: ts, StatusRecord: state.StatusRecord{Status: st, RunnerID: runner, Timestamp: ts}, RunnerContextID: runner,
		}))
	}
	run := func(id state.InvocationID, runner string, start time.Duration, end state.Status, took time.Duration) {
		t.Helper()
		hist(id, state.StatusRegistered, "", start+2*time.Second)
		hist(id, state.StatusPending, "", start+time.Second)
		hist(id, state.StatusRunning, runner, start)
		if end != "" {
			hist(id, end, runner, start-took)
		}
	}
	run(wf, runnerWorker, 50*time.Minute, state.StatusSuccess, 20*time.Minute)
	must("result", b.SetResult(ctx, wf, []byte(`{"total": 42}`)))
	run(step(1), runnerWorker, 48*time.Minute, state.StatusSuccess, time.Minute)
	must("result", b.SetResult(ctx, step(1), []byte(`1`)))
	run(step(2), runnerThread, 46*time.Minute, state.StatusFailed, 2*time.Minute)
	must("exception", b.SetException(ctx, step(2), []byte(tracebackText)))
	run(step(3), runnerThread, 10*time.Minute, "", 0)
	run(sub, runnerWorker, 40*time.Minute, "", 0)
	hist(subChild, state.StatusPending, "", 39*time.Minute)
	for i := range bulkCount {
		end := state.StatusSuccess
		if i%5 == 0 {
			end = state.StatusFailed
		}
		run(bulk(i), runnerB, 35*time.Minute-time.Duration(i)*20*time.Second, end, 5*time.Second)
	}
	run(evilID, runnerEvil, 20*time.Minute, state.StatusFailed, 3*time.Second)
	must("result", b.SetResult(ctx, evilID, []byte("\xff\xfe<script>alert('result')</script>")))
	must("exception", b.SetException(ctx, evilID, []byte(`{"error_name": "Value<script>alert('exc')</script>", "traceback": "Traceback (most recent call last):\n  <script>alert('tb')</script>\nValueError: \"quoted\""}`)))
	hist(dotsID, state.StatusRunning, runnerB, 5*time.Minute)
}

// openStore returns a Store on a new SQLite file, closed when t ends.
func openStore(t testing.TB) *statebackend.Store {
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
	return s
}

// openMemory returns an in-memory backend, closed when t ends.
func openMemory(t testing.TB) *memorybackend.Backend {
	t.Helper()
	b := memorybackend.NewStore().Open("shop")
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// seededStore is a seeded SQLite Store and the time of its seed.
func seededStore(t testing.TB) (*statebackend.Store, time.Time) {
	t.Helper()
	s := openStore(t)
	now := time.Now().UTC()
	seed(t, s, now)
	return s, now
}

func newMonitor(t testing.TB, b state.Backend, opts monitor.Options) http.Handler {
	t.Helper()
	h, err := monitor.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// response is a page as a test reads it.
type response struct {
	code   int
	header http.Header
	body   string
}

// serve asks h for target with method, in t's context.
func serve(t testing.TB, h http.Handler, method, target string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return response{rec.Code, rec.Result().Header, string(body)}
}

func get(t testing.TB, h http.Handler, target string) response {
	t.Helper()
	return serve(t, h, http.MethodGet, target)
}

// mustGet gets target and fails t unless the answer is 200 and holds
// every one of wants.
func mustGet(t testing.TB, h http.Handler, target string, wants ...string) response {
	t.Helper()
	r := get(t, h, target)
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200; body:\n%s", target, r.code, r.body)
	}
	for _, w := range wants {
		if !strings.Contains(r.body, w) {
			t.Errorf("GET %s: the page lacks %q; body:\n%s", target, w, r.body)
		}
	}
	return r
}

// contractOnly hides every optional interface of the backend it holds:
// the monitor then serves what the contract alone allows.
type contractOnly struct{ state.Backend }

// estimating is a backend whose counts are reported as estimates (they
// are its Browser's exact counts): what the overview shows of a
// CountEstimator that estimated.
type estimating struct {
	state.Backend
	state.Browser
}

func (e estimating) EstimateInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, bool, error) {
	counts, err := e.CountInvocations(ctx, f, byTask)
	return counts, true, err
}
