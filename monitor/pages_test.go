package monitor_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

// backends runs test on a seeded SQLite Store and on a seeded in-memory
// backend: the monitor serves any backend through the state interfaces.
func backends(t *testing.T, test func(t *testing.T, b state.Backend, now time.Time)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, now := seededStore(t)
		test(t, s, now)
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		b := openMemory(t)
		now := time.Now().UTC()
		seed(t, b, now)
		test(t, b, now)
	})
}

func invPath(id state.InvocationID) string { return "/invocations/" + url.PathEscape(string(id)) }

// page is a GET and what its answer must hold and must not.
type page struct {
	path    string
	want    []string
	notWant []string
}

func checkPages(t *testing.T, h http.Handler, pages []page) {
	t.Helper()
	for _, p := range pages {
		r := mustGet(t, h, p.path, p.want...)
		for _, nw := range p.notWant {
			if strings.Contains(r.body, nw) {
				t.Errorf("GET %s: the page holds %q, which it must not", p.path, nw)
			}
		}
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b state.Backend, now time.Time) {
		h := newMonitor(t, b, monitor.Options{Title: "Shop monitor", AppID: "shop", Database: "sqlite file state.db"})
		row := func(id string) string { return `<td class="id inv"><a href="./invocations/` + id + `">` }
		checkPages(t, h, []page{
			{path: "/", want: []string{
				"Shop monitor", "app <b>shop</b>", "database <b>sqlite file state.db</b>",
				"shop.app", "/srv/shop/app.py", "Invocations by status", "45 invocations",
				`<a href="./invocations?status=failed"><span class="badge st-failed">failed</span> <span class="num">10</span></a>`,
				`<a href="./invocations?status=running"><span class="badge st-running">running</span> <span class="num">3</span></a>`,
				"Recent failures", row("wf-1-step-2"), row("bulk-35"),
				"Status changes per minute, last hour", `<svg class="chart"`, `<rect class="st-success"`,
				`data-events="./events"`,
			}, notWant: []string{"estimated", row("wf-1")}},
			{path: "/?by=task", want: []string{
				"by task and status", `<a href="./invocations?task=shop.tasks.add">shop.tasks.add</a>`,
				`<a href="./invocations?status=success&amp;task=shop.tasks.add">`, "(history only)",
			}},
			{path: "/?window=day", want: []string{"Status changes per hour, last day", `<a href="./?window=day" aria-current="true">day</a>`}},
			{path: "/invocations", want: []string{row("bulk-00"), row("wf-1"), row("%2E%2E"), `data-events="./events"`}, notWant: []string{"next page"}},
			{path: "/invocations?limit=10", want: []string{row("%2E%2E"), "next page »"}, notWant: []string{row("wf-1")}},
			{path: "/invocations?task=shop.flows.pipeline", want: []string{row("wf-1"), `value="shop.flows.pipeline"`, `data-events="./events?task=shop.flows.pipeline"`},
				notWant: []string{row("bulk-00"), row("wf-1-step-1")}},
			{path: "/invocations?status=failed", want: []string{row("wf-1-step-2"), row("bulk-00"), row("bulk-35"), `<option value="failed" selected>`},
				notWant: []string{row("wf-1"), row("bulk-01"), "next page"}},
			{path: "/invocations?status=running&status=pending", want: []string{row("wf-1-step-3"), row("sub-1"), row("sub-1-child"), row("%2E%2E")},
				notWant: []string{row("wf-1"), row("bulk-00")}},
			{path: "/invocations?status=running,pending", want: []string{row("wf-1-step-3"), row("sub-1-child")}, notWant: []string{row("wf-1")}},
			{path: "/invocations?workflow=wf-1", want: []string{row("wf-1"), row("wf-1-step-1"), row("wf-1-step-3"), `data-events="./events?workflow=wf-1"`},
				notWant: []string{row("sub-1-child"), row("bulk-00")}},
			{path: "/invocations?workflow_type=shop.flows.refund", want: []string{row("sub-1"), row("sub-1-child")}, notWant: []string{row("wf-1")}},
			{path: "/invocations?parent=wf-1", want: []string{row("wf-1-step-1"), row("wf-1-step-2"), row("wf-1-step-3"), row("sub-1")},
				notWant: []string{row("wf-1"), row("sub-1-child")}},
			{path: "/invocations?runner=" + url.QueryEscape(runnerThread), want: []string{row("wf-1-step-2"), row("wf-1-step-3")},
				notWant: []string{row("wf-1"), row("bulk-00")}},
			{path: "/invocations?since=15m", want: []string{row("wf-1-step-3"), row("%2E%2E")}, notWant: []string{row("bulk-00"), row("wf-1")}},
			{path: "/invocations?before=" + url.QueryEscape(now.Add(-45*time.Minute).Format(time.RFC3339Nano)), want: []string{row("wf-1-step-1")},
				notWant: []string{row("wf-1-step-2"), row("bulk-00")}},
			{path: "/invocations?task=shop.tasks.add&status=success&limit=3", want: []string{row("bulk-36"), `value="3"`, "limit=3"}},

			{path: invPath(wf), want: []string{
				"<h1>Invocation wf-1</h1>", `<a href="../invocations?task=shop.flows.pipeline">shop.flows.pipeline</a>`,
				`<span class="tag">started here</span>`, "20m00s", `<a href="../runners/proc-a%2Fworker-1">proc-a/worker-1</a>`,
				`<a class="id" href="../invocations/wf-1-step-1">wf-1-step-1</a>`, `<a class="id" href="../invocations/sub-1-child">sub-1-child</a>`,
				"&#34;total&#34;: 42", "&#34;id&#34;: 7", "No exception stored.", `data-events="../events?workflow=wf-1"`,
			}},
			{path: invPath(step(2)), want: []string{
				`Called from <a class="id" href="../invocations/wf-1">wf-1</a>`,
				"Traceback (most recent call last):\n  File &#34;shop/tasks.py&#34;, line 3, in add", "ValueError: boom", "No result stored.",
				`<a href="../runners/proc-a%2Fworker-1%2Fthread-7">`,
			}},
			{path: invPath(step(3)), want: []string{`<span class="muted">so far</span>`, `<span class="badge st-running">running</span>`}},
			{path: invPath(subChild), want: []string{
				`Called from <a class="id" href="../invocations/wf-1">wf-1</a> <span class="muted">(shop.flows.pipeline)</span> › <a class="id" href="../invocations/sub-1">sub-1</a>`,
				`<a href="../workflow-runs/sub-1">sub-1</a>`, `<a href="../workflow-runs/wf-1">wf-1</a>`,
			}},
			{path: "/invocations/%2E%2E", want: []string{"history only", "<h1>Invocation ..</h1>"}, notWant: []string{"<h2>Arguments</h2>"}},

			{path: "/workflows", want: []string{`<a href="./workflows/shop.flows.pipeline">shop.flows.pipeline</a>`, `<a href="./workflows/shop.flows.refund">`}},
			{path: "/workflows/shop.flows.pipeline", want: []string{`<a href="../workflow-runs/wf-1">wf-1</a>`, "top level"}},
			{path: "/workflows/shop.tasks.add", want: []string{"No run of this type is stored", `<a href="../invocations?workflow_type=shop.tasks.add">`}},
			{path: "/workflows/shop.flows.refund", want: []string{`<a href="../workflow-runs/sub-1">sub-1</a>`, `<a href="../workflow-runs/wf-1">wf-1</a>`}},
			{path: "/workflow-runs/wf-1", want: []string{
				`<a href="../workflows/shop.flows.pipeline">shop.flows.pipeline</a>`, `<a href="../invocations/wf-1-step-2">wf-1-step-2</a>`,
				`<a href="../workflow-runs/sub-1">its sub-workflow run</a>`, "cannot list the keys", "none: a top-level run",
			}},
			{path: "/workflow-runs/wf-1?key=progress", want: []string{"&#34;done&#34;: 2", `value="progress"`}},
			{path: "/workflow-runs/wf-1?key=nope", want: []string{"No value is stored under this key."}},
			{path: "/workflow-runs/sub-1", want: []string{`<a href="../workflow-runs/wf-1">wf-1</a>`, `<a href="../invocations/sub-1-child">sub-1-child</a>`}},

			{path: "/runners", want: []string{`<a href="./runners/proc-a">proc-a</a>`, `<a href="./runners/proc-a%2Fworker-1%2Fthread-7">`, "ThreadRunner", "host-b"}},
			{path: "/runners?q=worker", want: []string{`<a href="./runners/proc-a%2Fworker-1">proc-a/worker-1</a>`, `value="worker"`},
				notWant: []string{`<a href="./runners/proc-b">`}},
			{path: "/runners/" + url.PathEscape(runnerThread), want: []string{
				"ThreadRunner", `<a href="../runners/proc-a%2Fworker-1">proc-a/worker-1</a>`, `<a href="../runners/proc-a">proc-a</a>`,
				`<a href="../invocations/wf-1-step-2">`, `<a href="../invocations/wf-1-step-3">`,
			}},

			{path: "/timeline", want: []string{
				`<svg class="timeline"`, `<a href="./runners/proc-b"><text class="lane-label"`,
				`<a href="./invocations/wf-1"><rect class="bar st-success"`, `<a href="./invocations/wf-1-step-2"><rect class="bar st-failed"`,
				`<a href="./invocations/sub-1"><rect class="bar st-running open"`, "running at the end of the records read",
			}},
			{path: "/timeline?since=3h&until=2h", want: []string{"No invocation ran in this window.", "0 history records read"}},
			{path: "/timeline?since=" + url.QueryEscape(now.Add(-47*time.Minute-30*time.Second).Format(time.RFC3339Nano)) + "&until=" + url.QueryEscape(now.Add(-45*time.Minute).Format(time.RFC3339Nano)),
				// step 1 ran before the window began, step 2 after it ended.
				want: []string{`<a href="./invocations/wf-1-step-1"><rect class="bar st-success"`, "running before the window began",
					`<a href="./invocations/wf-1-step-2"><rect class="bar st-running open"`}},
		})
	})
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	h := newMonitor(t, openMemory(t), monitor.Options{})
	css := mustGet(t, h, "/static/style.css", "--success")
	if ct := css.header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("style.css: Content-Type %q", ct)
	}
	js := mustGet(t, h, "/static/live.js", "EventSource", "partial")
	if ct := js.header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("live.js: Content-Type %q", ct)
	}
	icon := mustGet(t, h, "/static/icon.svg", "<svg")
	if ct := icon.header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("icon.svg: Content-Type %q", ct)
	}
	// A page links all three: with an icon of its own, a browser does not
	// ask for /favicon.ico (outside the monitor when it is mounted under
	// a prefix, and a 404 in the monitor's console otherwise).
	mustGet(t, h, "/", `<link rel="stylesheet" href="./static/style.css">`, `<script src="./static/live.js" defer></script>`,
		`<link rel="icon" href="./static/icon.svg" type="image/svg+xml">`)
}

// TestPartial checks that partial=1 answers the live region only.
func TestPartial(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	for _, path := range []string{"/?partial=1", "/invocations?status=failed&partial=1", invPath(wf) + "?partial=1"} {
		r := mustGet(t, h, path, "<table")
		for _, whole := range []string{"<html", "<header", "<form", `id="live"`} {
			if strings.Contains(r.body, whole) {
				t.Errorf("GET %s: the partial page holds %q", path, whole)
			}
		}
	}
}

// TestWithoutOptionalInterfaces serves a backend that implements the
// contract only: every page answers, saying what it cannot do.
func TestWithoutOptionalInterfaces(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, contractOnly{s}, monitor.Options{})
	checkPages(t, h, []page{
		{path: "/", want: []string{"cannot count invocations", "cannot list invocations", "Status changes per minute", "shop.app"}},
		{path: invPath(wf), want: []string{`<a class="id" href="../invocations/wf-1-step-1">wf-1-step-1</a> <span class="muted">shop.tasks.add</span>`, "first by id"}},
		{path: "/workflow-runs/wf-1", want: []string{`<a href="../invocations/wf-1-step-1">wf-1-step-1</a>`, "shop.tasks.add"}},
		{path: "/runners/" + url.PathEscape(runnerThread), want: []string{"cannot list invocations", "ThreadRunner"}},
		{path: "/timeline", want: []string{`<svg class="timeline"`}},
	})
	r := get(t, h, "/invocations?status=failed")
	if r.code != http.StatusNotImplemented || !strings.Contains(r.body, "cannot list invocations") {
		t.Errorf("/invocations without a Browser: %d, want 501 saying it cannot list; body:\n%s", r.code, r.body)
	}
}

func TestEstimatedCounts(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	seed(t, b, time.Now().UTC())
	h := newMonitor(t, estimating{b, b}, monitor.Options{})
	mustGet(t, h, "/", `<span class="tag" title="From the database's statistics or a sample of its rows, which lag behind the writes.">estimated</span>`, "45 invocations (estimated)")
	// The Store counts exactly on SQLite, and says nothing.
	s, _ := seededStore(t)
	r := mustGet(t, newMonitor(t, s, monitor.Options{}), "/", "45 invocations")
	if strings.Contains(r.body, "estimated") {
		t.Error("the overview of exact counts says they are estimated")
	}
}

// TestBoundedReads checks that the chart and the timeline stop at
// ScanLimit records and say so.
func TestBoundedReads(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{ScanLimit: 60}) // one record per minute of the chart
	mustGet(t, h, "/", `<rect class="cut"`, "were cut at 1 records each", "at least ")
	mustGet(t, h, "/timeline", "The window holds more records than a page reads", `<line class="cut-line"`, "60 history records read")
	// The day's chart: 60/24 = 2 records per hour.
	mustGet(t, h, "/?window=day", "were cut at 2 records each")
}

// TestCountsPerTaskAreBounded counts more tasks than the overview shows.
func TestCountsPerTaskAreBounded(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	now := time.Now().UTC()
	for i := range 205 {
		id := state.InvocationID(fmt.Sprintf("inv-%03d", i))
		task := state.TaskID{Module: "m", FuncName: fmt.Sprintf("t%03d", i)}
		if err := b.UpsertInvocations(t.Context(), []state.Invocation{{ID: id, CallID: state.CallID{Task: task, ArgsID: "a"},
			Workflow: state.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}}); err != nil {
			t.Fatal(err)
		}
		for _, st := range []state.Status{state.StatusRunning, state.StatusSuccess} {
			if err := b.AddHistory(t.Context(), []state.InvocationID{id}, state.InvocationHistory{Timestamp: now, StatusRecord: state.StatusRecord{Status: st, Timestamp: now}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Two more invocations of the last task, in another status: it is
	// still one task not shown.
	for _, id := range []state.InvocationID{"x", "y"} {
		task := state.TaskID{Module: "m", FuncName: "t204"}
		if err := b.UpsertInvocations(t.Context(), []state.Invocation{{ID: id, CallID: state.CallID{Task: task, ArgsID: string(id)},
			Workflow: state.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}}); err != nil {
			t.Fatal(err)
		}
		if err := b.AddHistory(t.Context(), []state.InvocationID{id}, state.InvocationHistory{Timestamp: now, StatusRecord: state.StatusRecord{Status: state.StatusFailed, Timestamp: now}}); err != nil {
			t.Fatal(err)
		}
	}
	r := mustGet(t, newMonitor(t, b, monitor.Options{}), "/?by=task", "And 5 more tasks not shown.", ">m.t199</a>", "207 invocations")
	if strings.Contains(r.body, ">m.t200</a>") {
		t.Error("the 201st task is shown")
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	for _, path := range []string{
		"/invocations/nope", "/workflow-runs/nope", "/runners/nope",
		"/nope", "/invocations/wf-1/more", "/static/nope.css", "/static/",
	} {
		r := get(t, h, path)
		if r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404; body:\n%s", path, r.code, r.body)
			continue
		}
		if !strings.Contains(r.body, "<h1>Not Found</h1>") {
			t.Errorf("GET %s: the 404 is not the monitor's page:\n%s", path, r.body)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	h := newMonitor(t, openMemory(t), monitor.Options{})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		for _, path := range []string{"/", "/invocations", "/invocations/x", "/events", "/static/style.css", "/nope"} {
			r := serve(t, h, method, path)
			if r.code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, r.code)
			}
			if got := r.header.Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", method, path, got)
			}
		}
	}
	r := serve(t, h, http.MethodHead, "/")
	if r.code != http.StatusOK || r.body != "" {
		t.Errorf("HEAD /: %d with %d bytes, want 200 and no body", r.code, len(r.body))
	}
	r = serve(t, h, http.MethodHead, "/events")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD /events: %d %q", r.code, r.header.Get("Content-Type"))
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	if _, err := monitor.New(nil, monitor.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, o := range []monitor.Options{{PollInterval: time.Millisecond}, {PollInterval: -time.Second}, {ScanLimit: -1}, {ScanLimit: monitor.MaxScanLimit + 1}} {
		if _, err := monitor.New(b, o); err == nil {
			t.Errorf("New with %+v succeeded", o)
		}
	}
	mustGet(t, newMonitor(t, b, monitor.Options{}), "/", "<title>Overview · "+monitor.DefaultTitle+"</title>")
}

// TestBackendFailure closes the backend under the monitor: pages answer
// 500 with a message that shows nothing of the error, which goes to the
// logger.
func TestBackendFailure(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	seed(t, b, time.Now().UTC())
	var log strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
	h := newMonitor(t, b, monitor.Options{Logger: logger})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/invocations", invPath(wf), "/workflows", "/workflow-runs/wf-1", "/runners", "/runners/proc-b", "/timeline", "/events"} {
		r := get(t, h, path)
		if r.code != http.StatusInternalServerError {
			t.Errorf("GET %s on a closed backend: %d, want 500", path, r.code)
		}
		if strings.Contains(r.body, "closed") || !strings.Contains(r.body, "The backend failed to answer") {
			t.Errorf("GET %s: the 500 page:\n%s", path, r.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "monitor: page failed") || !strings.Contains(log.String(), "closed") {
		t.Errorf("the log holds:\n%s", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
