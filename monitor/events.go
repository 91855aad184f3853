package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Pacing of the live updates.
const (
	// eventGap is the least time between two events of a stream: changes
	// that come closer are sent as one, so that pages reload at most
	// twice a second however busy the backend is.
	eventGap = 500 * time.Millisecond
	// keepAlive is how often an idle stream sends a comment, so that
	// proxies keep it open and a client that went away is noticed.
	keepAlive = 15 * time.Second
)

// events serves /events, the Server-Sent Events stream the live pages
// listen to. With a state.Watcher it follows the changes committed from
// now on that match the query ("task" repeated, "workflow",
// "invocation" repeated, "status" repeated: the fields of
// state.ChangeFilter) and sends an event "change" per change, changes
// closer than eventGap sent as one. Without a Watcher it sends an event
// "tick" every PollInterval. The stream ends when the client goes away
// (the request's context), with nothing left running.
func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	var f state.ChangeFilter
	if f.Tasks, err = p.tasks("task"); err != nil {
		return err
	}
	if f.WorkflowID, err = p.id("workflow"); err != nil {
		return err
	}
	if f.Invocations, err = p.ids("invocation"); err != nil {
		return err
	}
	if f.Statuses, err = p.statuses("status"); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return badRequest("The filter is not valid: %v.", err)
	}
	ctx := r.Context()
	// The stream starts at the newest change, taken before the answer
	// starts: a change committed after the client saw the stream open is
	// delivered.
	var after state.ChangeCursor
	if s.watcher != nil {
		if after, err = s.watcher.LatestChange(ctx); err != nil {
			return err
		}
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives a server's WriteTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	st := &stream{w: w, rc: rc}
	mode := "tick"
	if s.watcher != nil {
		mode = "watch"
	}
	if st.send("retry: 3000\n: connected ("+mode+")\n\n") != nil {
		return nil
	}
	// From here on the answer is a stream: errors are logged, not
	// rendered.
	if s.watcher == nil {
		s.ticks(ctx, st)
	} else {
		s.changes(ctx, st, f, after)
	}
	return nil
}

// stream writes events and flushes each.
type stream struct {
	w  io.Writer
	rc *http.ResponseController
}

func (st *stream) send(s string) error {
	if _, err := io.WriteString(st.w, s); err != nil {
		return err
	}
	return st.rc.Flush()
}

// ticks sends a "tick" every PollInterval until ctx ends.
func (s *server) ticks(ctx context.Context, st *stream) {
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	keep := time.NewTicker(keepAlive)
	defer keep.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			err = st.send("event: tick\ndata: tick\n\n")
		case <-keep.C:
			err = st.send(": keep-alive\n\n")
		}
		if err != nil {
			return
		}
	}
}

// changes sends a "change" for the changes after the cursor after that
// match f, until ctx ends or the watch fails. A goroutine follows the
// watch and signals each change; this one paces the events. Both end
// before changes returns.
func (s *server) changes(ctx context.Context, st *stream, f state.ChangeFilter, after state.ChangeCursor) {
	ctx, cancel := context.WithCancel(ctx)
	changed := make(chan struct{}, 1)
	ended := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { ended <- s.follow(ctx, f, after, changed) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	keep := time.NewTicker(keepAlive)
	defer keep.Stop()
	var last time.Time
	var wait *time.Timer
	var waitC <-chan time.Time
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case err := <-ended:
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "monitor: the change feed of a live stream failed", "error", err)
				_ = st.send("event: failed\ndata: the change feed failed\n\n")
			}
			return
		case <-changed:
			if since := time.Since(last); since < eventGap {
				if waitC == nil {
					wait = time.NewTimer(eventGap - since)
					waitC = wait.C
				}
				continue
			}
			err = st.send("event: change\ndata: change\n\n")
			last = time.Now()
		case <-waitC:
			waitC = nil
			err = st.send("event: change\ndata: change\n\n")
			last = time.Now()
		case <-keep.C:
			err = st.send(": keep-alive\n\n")
		}
		if err != nil {
			return // the client went away
		}
	}
}

// follow watches the changes after the cursor after that match f, and
// signals changed (without blocking: one pending signal stands for any
// number of changes) for each, until ctx ends or the watch fails. A
// cursor that retention expired (a prune deleted the changes after it)
// is a change too: the watch starts again from the newest one.
func (s *server) follow(ctx context.Context, f state.ChangeFilter, after state.ChangeCursor, changed chan<- struct{}) error {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
watch:
	for {
		for ch, err := range s.watcher.Watch(ctx, state.WatchRequest{After: after, Filter: f, Follow: true}) {
			if errors.Is(err, state.ErrCursorExpired) {
				if after, err = s.watcher.LatestChange(ctx); err != nil {
					return err
				}
				signal()
				continue watch
			}
			if err != nil {
				return err
			}
			after = ch.Cursor
			signal()
		}
		return ctx.Err() // a following watch ends with an error or ctx
	}
}
