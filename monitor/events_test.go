package monitor_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

// eventServer serves h over HTTP and reports on ended each time a
// request to it returns, so that a test can see a stream end.
func eventServer(t *testing.T, h http.Handler) (*httptest.Server, <-chan string) {
	t.Helper()
	ended := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { ended <- r.URL.Path }()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, ended
}

// stream is an open event stream, read line by line by a goroutine that
// ends when the response body does.
type stream struct {
	resp  *http.Response
	lines chan string
}

func openStream(t *testing.T, ctx context.Context, srv *httptest.Server, path string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkSecurityHeaders(t, "GET "+path, resp.Header)
	st := &stream{resp: resp, lines: make(chan string, 1024)}
	go func() {
		defer close(st.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			st.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return st
}

// waitFor reads the stream until a line equal to want, failing t on a
// line in fail, at the stream's end, or when poll.Timeout passes.
func (st *stream) waitFor(t *testing.T, want string, fail ...string) {
	t.Helper()
	deadline := time.NewTimer(poll.Timeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-st.lines:
			if !ok {
				t.Fatalf("the stream ended before %q", want)
			}
			for _, f := range fail {
				if line == f {
					t.Fatalf("the stream sent %q before %q", line, want)
				}
			}
			if line == want {
				return
			}
		case <-deadline.C:
			t.Fatalf("no %q within %v", want, poll.Timeout)
		}
	}
}

// waitEnded waits until a request to path returned on the server.
func waitEnded(t *testing.T, ended <-chan string, path string) {
	t.Helper()
	deadline := time.NewTimer(poll.Timeout)
	defer deadline.Stop()
	for {
		select {
		case p := <-ended:
			if p == path {
				return
			}
		case <-deadline.C:
			t.Fatalf("the handler of %s did not return within %v of the client leaving", path, poll.Timeout)
		}
	}
}

func addHistory(t *testing.T, b state.Backend, id state.InvocationID, st state.Status) {
	t.Helper()
	ts := time.Now().UTC()
	err := b.AddHistory(t.Context(), []state.InvocationID{id}, state.InvocationHistory{
		Timestamp: ts, StatusRecord: state.StatusRecord{Status: st, Timestamp: ts}, RunnerContextID: runnerThread,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEventsFollowTheStore opens a stream on a Store (a state.Watcher):
// a write makes an event, and the stream's handler returns when the
// client's context is cancelled.
func TestEventsFollowTheStore(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	srv, ended := eventServer(t, newMonitor(t, s, monitor.Options{}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := openStream(t, ctx, srv, "/events?workflow=wf-1")
	st.waitFor(t, ": connected (watch)")
	addHistory(t, s, step(3), state.StatusSuccess)
	st.waitFor(t, "event: change", "event: failed")
	if err := s.SetResult(t.Context(), step(3), []byte("3")); err != nil {
		t.Fatal(err)
	}
	st.waitFor(t, "event: change", "event: failed")

	cancel()
	waitEnded(t, ended, "/events")
	for range st.lines { // the reader ends with the body
	}
}

// TestEventsEndWhenTheClientCloses opens a stream on the in-memory
// backend and closes the connection: the handler returns.
func TestEventsEndWhenTheClientCloses(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	seed(t, b, time.Now().UTC())
	srv, ended := eventServer(t, newMonitor(t, b, monitor.Options{}))
	st := openStream(t, t.Context(), srv, "/events?invocation=wf-1-step-3&status=success")
	st.waitFor(t, ": connected (watch)")
	addHistory(t, b, step(3), state.StatusSuccess)
	st.waitFor(t, "event: change", "event: failed")

	st.resp.Body.Close()
	waitEnded(t, ended, "/events")
	for range st.lines {
	}
}

// TestEventsSurviveAPurge purges the backend under a stream: it keeps
// sending. (Whether the watch's cursor expires depends on whether it read
// the last change before the purge; follow's own test expires it for
// sure.)
func TestEventsSurviveAPurge(t *testing.T) {
	t.Parallel()
	b := openMemory(t)
	seed(t, b, time.Now().UTC())
	srv, ended := eventServer(t, newMonitor(t, b, monitor.Options{}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := openStream(t, ctx, srv, "/events")
	st.waitFor(t, ": connected (watch)")
	addHistory(t, b, "a", state.StatusRunning)
	st.waitFor(t, "event: change", "event: failed")
	if err := b.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	addHistory(t, b, "b", state.StatusRunning)
	st.waitFor(t, "event: change", "event: failed")
	addHistory(t, b, "c", state.StatusRunning)
	st.waitFor(t, "event: change", "event: failed")
	cancel()
	waitEnded(t, ended, "/events")
	for range st.lines {
	}
}

// TestEventsTickWithoutAWatcher streams from a backend that is not a
// state.Watcher: ticks, every PollInterval.
func TestEventsTickWithoutAWatcher(t *testing.T) {
	t.Parallel()
	srv, ended := eventServer(t, newMonitor(t, contractOnly{openMemory(t)}, monitor.Options{PollInterval: monitor.MinPollInterval}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := openStream(t, ctx, srv, "/events")
	st.waitFor(t, ": connected (tick)")
	st.waitFor(t, "event: tick")
	st.waitFor(t, "event: tick")
	cancel()
	waitEnded(t, ended, "/events")
	for range st.lines {
	}
}

// TestLivePagesCarryTheirEvents checks the pages that change name their
// stream, with the filters the stream takes.
func TestLivePagesCarryTheirEvents(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	mustGet(t, h, "/", `<main id="live" data-events="./events">`, `<span id="live-status"`)
	mustGet(t, h, "/invocations?task=shop.tasks.add&status=failed&parent=wf-1", `data-events="./events?task=shop.tasks.add"`)
	mustGet(t, h, invPath(subChild), `data-events="../events?workflow=sub-1"`)
	mustGet(t, h, "/invocations/%2E%2E", `data-events="../events?invocation=.."`)
	r := mustGet(t, h, "/timeline")
	if strings.Contains(r.body, "data-events") {
		t.Error("the timeline, which shows a fixed window, names a stream")
	}
	// Each page's stream is one the events handler accepts.
	for _, path := range []string{"/events?task=shop.tasks.add", "/events?workflow=sub-1", "/events?invocation=.."} {
		if r := serve(t, h, http.MethodHead, path); r.code != http.StatusOK {
			t.Errorf("HEAD %s: %d", path, r.code)
		}
	}
}
