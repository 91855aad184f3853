package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/audits"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

// Environment variables of the browser test.
const (
	// chromiumEnv names the browser to run, instead of the first of
	// chromiumNames found on PATH.
	chromiumEnv = "STATEBACKEND_TEST_CHROMIUM"
	// requireEnv (comma-separated) holding "browser" makes a missing
	// browser a failure, not a skip.
	requireEnv = "STATEBACKEND_TEST_REQUIRE"
	// screenshotsEnv names a directory to write the screenshots into,
	// under stable names; without it they go to a temporary directory.
	screenshotsEnv = "STATEBACKEND_SCREENSHOTS"
)

// chromiumNames are the browsers looked for on PATH, in this order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// The browser's window: the size of the screenshots.
const width, height = 1280, 800

// chromium returns the browser to run, skips t when there is none, or
// fails it when STATEBACKEND_TEST_REQUIRE names "browser".
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", chromiumEnv, p, err)
		}
		return path
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("no browser on PATH (looked for %s): install Debian's chromium: apt-get install chromium, or set %s to a Chromium or Chrome binary",
		strings.Join(chromiumNames, ", "), chromiumEnv)
	for _, name := range strings.Split(os.Getenv(requireEnv), ",") {
		if strings.TrimSpace(name) == "browser" {
			t.Fatalf("%s (%s names browser)", msg, requireEnv)
		}
	}
	t.Skip(msg)
	return ""
}

// session is a browser tab on the monitor, and what went wrong in it.
type session struct {
	t     *testing.T
	tab   context.Context
	base  string // the monitor's URL, without the final "/"
	shots string // where screenshots go

	mu       sync.Mutex
	problems []string
	urls     map[network.RequestID]string // of every request, to name a failed one
}

// TestBrowser walks through the monitor in headless Chromium as a person
// would: the overview, the failed invocations (then only one task's), an
// invocation, its workflow run and the run's data, back, its runner, the
// timeline; and watches two pages update when the backend changes. At
// each step it checks what the page shows, and it fails on any console
// error, uncaught exception, Content-Security-Policy violation, failed
// request or HTTP error. Every step leaves a screenshot.
func TestBrowser(t *testing.T) {
	path := chromium(t)
	now := time.Now().UTC()
	s := openSeeded(t, now)
	h, err := monitor.New(s, monitor.Options{AppID: "shop", Database: "sqlite:state.db"})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, h)
	b := startBrowser(t, path, srv.URL)

	// The overview.
	b.open("overview", "/")
	b.wantText("overview", "h1", "Overview")
	b.wantText("overview", "p.total", "41 invocations")
	b.wantText("overview", `ul.tiles a[href="./invocations?status=failed"]`, "failed 6")
	b.wantText("overview", "section.card", "Recent failures")
	b.wantRow("overview", "#live", string(chargeID), "shop.payments.charge_card", "failed")
	b.wantText("overview", "#live", "/srv/shop/shop/app.py")
	if n := count(b, "svg.chart rect"); n == 0 {
		t.Errorf("overview: the throughput chart has no bar")
	}
	b.waitLive("overview")
	b.shot("overview")

	// A click on the failed tile lists the failed invocations.
	b.click("failed invocations", `ul.tiles a[href="./invocations?status=failed"]`)
	b.wantURL("failed invocations", "/invocations", url.Values{"status": {"failed"}})
	b.wantText("failed invocations", "h1", "Invocations")
	b.wantColumn("failed invocations", 3, 6, "failed")
	b.wantRow("failed invocations", "#live", string(chargeID), "shop.payments.charge_card", "failed", runnerThread1, string(orderID))
	if !eval[bool](b, `document.querySelector('select[name=status] option[value=failed]').selected`) {
		t.Errorf("failed invocations: the status filter does not show failed selected")
	}
	// The listing follows every change: one may take an invocation out of
	// the failed ones, or bring one in.
	b.wantAttr("failed invocations", "#live", "data-events", "./events")
	b.waitLive("failed invocations")
	b.shot("invocations")

	// Narrowed to one task with the filter form.
	b.do("task filter", chromedp.SendKeys(chromedp.CSS(`form.filters input[name=task]`), taskCharge.Key()))
	b.click("task filter", `form.filters button[type=submit]`)
	b.wantURL("task filter", "/invocations", url.Values{"status": {"failed"}, "task": {taskCharge.Key()}})
	b.wantColumn("task filter", 2, 2, taskCharge.Key())
	b.wantColumn("task filter", 3, 2, "failed")
	b.wantAttr("task filter", "#live", "data-events", "./events?task="+taskCharge.Key())
	b.shot("invocations-filtered")

	// The failed charge of order 1042.
	b.click("invocation", `#live td.inv a[href="./invocations/`+string(chargeID)+`"]`)
	b.wantURL("invocation", "/invocations/"+string(chargeID), nil)
	b.wantText("invocation", "h1", "Invocation "+string(chargeID))
	b.wantText("invocation", "dl.facts", "failed", taskCharge.Key(), string(orderID), taskOrder.Key())
	b.wantText("invocation", "p.lineage", "Called from "+string(orderID))
	b.wantText("invocation", "#live table.list tbody", "registered", "pending", "running", "failed", runnerThread1)
	b.wantText("invocation", "#live", "amount_cents", "12900", "tok_visa_4242")
	b.wantText("invocation", "#live", "error_name", "PaymentDeclined",
		"Traceback (most recent call last):", "shop.gateway.PaymentDeclined: card_declined (insufficient_funds)")
	b.waitLive("invocation")
	b.shot("invocation")
	b.do("invocation", chromedp.Evaluate[chromedp.Void](`Array.from(document.querySelectorAll('h2')).find(h => h.textContent === 'Exception').scrollIntoView()`))
	b.shot("invocation-exception")

	// Its workflow run, and a value of the run's data.
	b.click("workflow run", `dl.facts a[href="../workflow-runs/`+string(orderID)+`"]`)
	b.wantURL("workflow run", "/workflow-runs/"+string(orderID), nil)
	b.wantText("workflow run", "h1", "Workflow run "+string(orderID))
	b.wantText("workflow run", "dl.facts", taskOrder.Key(), "none: a top-level run", "4")
	for _, id := range []state.InvocationID{orderID, chargeID, reserveID, receiptID} {
		b.wantText("workflow run", "#live", string(id))
	}
	b.do("workflow data", chromedp.SendKeys(chromedp.CSS(`form.inline input[name=key]`), "customer"))
	b.click("workflow data", `form.inline button[type=submit]`)
	b.wantURL("workflow data", "/workflow-runs/"+string(orderID), url.Values{"key": {"customer"}})
	b.wantText("workflow data", "#live", `"tier": "gold"`)
	b.waitLive("workflow data")
	b.shot("workflow-run")

	// Back (twice: the data lookup was a page of its own) to the
	// invocation, then to the runner that failed it.
	b.do("back", chromedp.NavigateBack())
	b.wantURL("back", "/workflow-runs/"+string(orderID), nil)
	b.do("back", chromedp.NavigateBack())
	b.wantURL("back", "/invocations/"+string(chargeID), nil)
	b.wantText("back", "h1", "Invocation "+string(chargeID))
	b.click("runner", `#live table.list a[href="../runners/`+url.PathEscape(runnerThread1)+`"]`)
	b.wantURL("runner", "/runners/"+url.PathEscape(runnerThread1), nil)
	b.wantText("runner", "h1", "Runner "+runnerThread1)
	b.wantRow("runner", "#live", runnerThread1, "ProcessRunner", "worker-1", "4230", "3", runnerProc1)
	b.wantRow("runner", "#live", runnerProc1, "ProcessRunner", "worker-1", "4230", runnerMain1)
	b.wantRow("runner", "#live", runnerMain1, "ProcessRunner", "worker-1", "4211")
	b.wantRow("runner", "#live", string(chargeID), "failed")
	b.wantRow("runner", "#live", string(reserveID), "running")
	b.shot("runner")

	// The timeline, from the navigation.
	b.click("timeline", `nav.nav a[href="../timeline"]`)
	b.wantURL("timeline", "/timeline", nil)
	b.wantText("timeline", "h1", "Timeline")
	b.wantText("timeline", "svg.timeline", "worker-1", "worker-2")
	if n := count(b, "svg.timeline rect.bar"); n < 30 {
		t.Errorf("timeline: %d bars drawn, want one per run (at least 30)", n)
	}
	if w := eval[float64](b, `document.querySelector('svg.timeline').getBoundingClientRect().width`); w < 400 {
		t.Errorf("timeline: the SVG is %.0f pixels wide", w)
	}
	if w := eval[float64](b, `Math.max(...Array.from(document.querySelectorAll('svg.timeline rect.bar'), r => r.getBoundingClientRect().width))`); w <= 0 {
		t.Errorf("timeline: no bar has a width")
	}
	b.shot("timeline")

	// Live updates: a change written through the backend shows on the
	// open page, without a reload.
	ctx := t.Context()
	b.open("live invocation", "/invocations/"+string(reserveID))
	b.wantText("live invocation", "dl.facts", "running")
	b.waitLive("live invocation")
	b.markPage("live invocation")
	seeder{t: t, ctx: ctx, b: s, now: time.Now()}.hist(reserveID, state.StatusSuccess, runnerThread1, 0)
	b.waitUnreloaded("live invocation", `document.querySelector('dl.facts .badge')?.textContent === 'success' &&
		Array.from(document.querySelectorAll('#live table.list tbody .badge'), e => e.textContent).includes('success')`)

	b.open("live list", "/invocations?status=failed")
	b.wantColumn("live list", 3, 6, "failed")
	b.waitLive("live list")
	b.markPage("live list")
	seeder{t: t, ctx: ctx, b: s, now: time.Now()}.hist(lateID, state.StatusFailed, runnerThread2, 0)
	b.waitUnreloaded("live list", `document.querySelectorAll('#live td.inv a[href="./invocations/`+string(lateID)+`"]').length === 1`)
	b.wantColumn("live list", 3, 7, "failed")
	b.shot("invocations-live")

	b.checkProblems("the end")
}

// serve serves h over HTTP until t ends. Its requests' context ends
// first, so that the live streams still open end.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv
}

// startBrowser starts headless Chromium at path with one tab on the
// monitor at base. The browser and every process it started are gone
// when t ends.
func startBrowser(t *testing.T, path, base string) *session {
	t.Helper()
	// Every process of this browser holds marker in its environment:
	// how the test finds one left behind.
	marker := fmt.Sprintf("STATEBACKEND_BROWSERTEST=%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { noProcessLeft(t, marker) })

	var output syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, Chromium runs only without its sandbox
		chromedp.WindowSize(width, height),
		chromedp.Env(marker),
		chromedp.CombinedOutput(&output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits until the browser has exited
		if t.Failed() && output.Len() > 0 {
			t.Logf("the browser's output:\n%s", output.String())
		}
	})

	b := &session{t: t, tab: tab, base: strings.TrimSuffix(base, "/"), urls: map[network.RequestID]string{}}
	// The browser's start: bounded here, since the tab's context, which
	// the browser lives as long as, has no deadline.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(poll.Timeout):
		cancelAlloc()
		t.Fatalf("%s did not start within %v", path, poll.Timeout)
	}
	if err := chromedp.Listen(tab, b.event); err != nil {
		t.Fatal(err)
	}
	// The Audits domain reports Content-Security-Policy violations as
	// issues (the console reports them too).
	b.do("start", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tt, audits.Enable, cdp.Empty{})
		return err
	}), chromedp.EmulateViewport(width, height))

	b.shots = os.Getenv(screenshotsEnv)
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// event records what went wrong in the tab. It runs in the loop that
// reads the browser's messages: it must return at once.
func (b *session) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	add := func(format string, args ...any) { b.problems = append(b.problems, fmt.Sprintf(format, args...)) }
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			add("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		add("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, msg)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			add("browser log (%s): %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *audits.EventIssueAdded:
		if ev.Issue.Code == audits.InspectorIssueCodeContentSecurityPolicyIssue {
			d := ev.Issue.Details.ContentSecurityPolicyIssueDetails
			add("Content-Security-Policy violation: directive %s, blocked %s", d.ViolatedDirective, d.BlockedURL)
		}
	case *network.EventRequestWillBeSent:
		b.urls[ev.RequestID] = ev.Request.URL
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 {
			add("HTTP %d %s for %s", ev.Response.Status, ev.Response.StatusText, ev.Response.URL)
		}
	case *network.EventLoadingFailed:
		u := b.urls[ev.RequestID]
		// Leaving a page aborts its live stream: that is how it ends.
		if ev.Canceled && strings.Contains(u, "/events") {
			return
		}
		add("request failed: %s (%s, canceled %t)", u, ev.ErrorText, ev.Canceled)
	}
}

// checkProblems fails the test with what went wrong in the tab so far.
func (b *session) checkProblems(step string) {
	b.t.Helper()
	b.mu.Lock()
	problems := b.problems
	b.problems = nil
	b.mu.Unlock()
	if len(problems) > 0 {
		b.t.Fatalf("%s: the browser reported:\n  %s", step, strings.Join(problems, "\n  "))
	}
}

// do runs actions in the tab, bounded by poll.Timeout, then checks that
// nothing went wrong.
func (b *session) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, poll.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.checkProblems(step)
		b.t.Fatalf("%s: %v", step, err)
	}
	b.checkProblems(step)
}

// run runs one action in the tab and returns its value.
func run[T any](b *session, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.tab, poll.Timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *session, expr string) T {
	b.t.Helper()
	v, err := run(b, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func count(b *session, sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, strconv.Quote(sel)))
}

// open navigates to path under the monitor and waits for the page.
func (b *session) open(step, path string) {
	b.t.Helper()
	resp, err := run(b, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.checkProblems(step)
		b.t.Fatalf("%s: opening %s: %v", step, path, err)
	}
	b.checkResponse(step, resp)
}

// click clicks the element sel selects, and waits for the page it
// leads to.
func (b *session) click(step, sel string) {
	b.t.Helper()
	if n := count(b, sel); n == 0 {
		b.t.Fatalf("%s: nothing to click on the page matches %s", step, sel)
	}
	ctx, cancel := context.WithTimeout(b.tab, poll.Timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.checkProblems(step)
		b.t.Fatalf("%s: clicking %s: %v", step, sel, err)
	}
	b.checkResponse(step, resp)
}

func (b *session) checkResponse(step string, resp *network.Response) {
	b.t.Helper()
	b.checkProblems(step)
	if resp == nil || resp.Status != 200 {
		b.t.Fatalf("%s: the page answered %v", step, resp)
	}
}

// location returns the tab's URL.
func (b *session) location() *url.URL {
	b.t.Helper()
	loc, err := run(b, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// wantURL checks that the tab shows path under the monitor, with query
// parameters that hold every one of want (and possibly others: a form
// sends all its fields).
func (b *session) wantURL(step, path string, want url.Values) {
	b.t.Helper()
	u := b.location()
	if got := strings.TrimPrefix(u.Scheme+"://"+u.Host+u.EscapedPath(), b.base); got != path {
		b.t.Fatalf("%s: the tab shows %s, want the path %s", step, u, path)
	}
	q := u.Query()
	for k, vs := range want {
		for _, v := range vs {
			if !contains(q[k], v) {
				b.t.Errorf("%s: the URL %s lacks %s=%s", step, u, k, v)
			}
		}
	}
}

func oneSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// text returns what the page shows of the first element sel selects
// (innerText: the rendered text, not what is hidden; an SVG element,
// which has none, its text content), waiting for one.
func (b *session) text(step, sel string) string {
	b.t.Helper()
	action := chromedp.Text(chromedp.CSS(sel))
	if strings.HasPrefix(sel, "svg") {
		action = chromedp.TextContent(chromedp.CSS(sel))
	}
	s, err := run(b, action)
	if err != nil {
		b.t.Fatalf("%s: reading %s: %v", step, sel, err)
	}
	return s
}

// wantText checks that the element sel selects shows every one of
// wants, compared with their runs of white space made one space.
func (b *session) wantText(step, sel string, wants ...string) {
	b.t.Helper()
	got := b.text(step, sel)
	for _, w := range wants {
		if !strings.Contains(oneSpace(got), oneSpace(w)) {
			b.t.Errorf("%s: %s does not show %q; it shows:\n%s", step, sel, w, got)
		}
	}
}

// wantRow checks that a table row under sel shows first in its first
// cell and every one of rest in its others.
func (b *session) wantRow(step, sel, first string, rest ...string) {
	b.t.Helper()
	rows := eval[[][]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), tr => Array.from(tr.cells, c => c.innerText.trim()))`,
		strconv.Quote(sel+" tbody tr")))
	for _, row := range rows {
		if len(row) == 0 || row[0] != first {
			continue
		}
		cells := strings.Join(row[1:], "\n")
		for _, w := range rest {
			if !strings.Contains(cells, w) {
				b.t.Errorf("%s: the row of %s shows %q, not %q", step, first, row, w)
			}
		}
		return
	}
	b.t.Errorf("%s: no row under %s starts with %q; the rows: %q", step, sel, first, rows)
}

// wantColumn checks that the invocation table of the live region has n
// rows, each showing want in its column col (from 1).
func (b *session) wantColumn(step string, col, n int, want string) {
	b.t.Helper()
	cells := eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll('#live table.list tbody tr td:nth-child(%d)'), c => c.innerText.trim())`, col))
	if len(cells) != n {
		b.t.Errorf("%s: %d rows, want %d: %q", step, len(cells), n, cells)
	}
	for i, c := range cells {
		if c != want {
			b.t.Errorf("%s: row %d shows %q in column %d, want %q", step, i+1, c, col, want)
		}
	}
}

func (b *session) wantAttr(step, sel, name, want string) {
	b.t.Helper()
	got := eval[string](b, fmt.Sprintf(`document.querySelector(%s).getAttribute(%s)`, strconv.Quote(sel), strconv.Quote(name)))
	if got != want {
		b.t.Errorf("%s: %s has %s=%q, want %q", step, sel, name, got, want)
	}
}

// waitLive waits until the page's live updates are connected: from then
// on, a change committed reaches it.
func (b *session) waitLive(step string) {
	b.t.Helper()
	b.waitFor(step, "the live updates are connected", `document.getElementById('live-status')?.textContent === 'live'`)
}

// markPage marks the page's window: a reload would lose the mark.
func (b *session) markPage(step string) {
	b.t.Helper()
	b.do(step, chromedp.Evaluate[chromedp.Void](`window.statebackendMark = true`))
}

// waitUnreloaded waits until expr holds on the page marked by markPage,
// and checks that the page was not reloaded.
func (b *session) waitUnreloaded(step, expr string) {
	b.t.Helper()
	b.waitFor(step, "the page shows the change", expr)
	if !eval[bool](b, `window.statebackendMark === true`) {
		b.t.Fatalf("%s: the page was reloaded: the live update should swap its content in", step)
	}
}

// waitFor waits, up to poll.Timeout, until the JavaScript expression
// expr is true on the page, or the browser reports a problem (a live
// update that failed, say), which fails the test at once.
func (b *session) waitFor(step, what, expr string) {
	b.t.Helper()
	err := poll.Until(b.tab, what, func(ctx context.Context) error {
		if b.hasProblems() {
			return nil
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err // a page being replaced, say: look again
		}
		if !ok {
			return errors.New("not yet")
		}
		return nil
	})
	b.checkProblems(step)
	if err != nil {
		b.t.Fatalf("%s: %v (%s)", step, err, expr)
	}
}

func (b *session) hasProblems() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.problems) > 0
}

// shot saves a screenshot of the tab's viewport as name.png.
func (b *session) shot(name string) {
	b.t.Helper()
	png, err := run(b, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

// noProcessLeft waits until no process holds marker in its environment,
// and fails t (killing them) when some still run after poll.Timeout.
func noProcessLeft(t *testing.T, marker string) {
	t.Helper()
	err := poll.Until(context.Background(), "the browser's processes have exited", func(context.Context) error {
		if pids := processesWith(marker); len(pids) > 0 {
			return fmt.Errorf("processes %v still run", pids)
		}
		return nil
	})
	if err != nil {
		for _, pid := range processesWith(marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Error(err)
	}
}

// processesWith returns the processes whose environment holds marker.
func processesWith(marker string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for v := range bytes.SplitSeq(env, []byte{0}) {
			if string(v) == marker {
				if !zombie(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// zombie reports whether pid has exited and waits for its parent.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
