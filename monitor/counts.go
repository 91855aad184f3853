package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// countLimit is where the counts of a family or a workflow run stop: past
// it, a page says "more than 1,000" rather than read every member of a run
// of a million to count them (see state.BoundedCounter).
const countLimit = 1000

// total counts the invocations that match f: exactly when at most
// countLimit do or the backend cannot stop at a bound (exact true), or
// else countLimit, meaning more (exact false). It needs s.browser.
func (s *server) total(ctx context.Context, f state.InvocationFilter) (n int64, exact bool, err error) {
	var counts []state.StatusCount
	if s.bounded != nil {
		var complete bool
		counts, complete, err = s.bounded.CountInvocationsUpTo(ctx, f, false, countLimit)
		if err != nil || !complete {
			return countLimit, false, err
		}
	} else if counts, err = s.browser.CountInvocations(ctx, f, false); err != nil {
		return 0, false, err
	}
	for _, c := range counts {
		n += c.Count
	}
	return n, true, nil
}

// countText says a total of total: "1,234", or "more than 1,000".
func countText(n int64, exact bool) string {
	if exact {
		return formatCount(n)
	}
	return "more than " + formatCount(n)
}

// moreText says how many of a total are not among the shown: "12 more",
// "more than 1,000 in all", or "" for none.
func moreText(total int64, exact bool, shown int) string {
	switch {
	case !exact:
		return "more than " + formatCount(total) + " in all"
	case total > int64(shown):
		return formatCount(total-int64(shown)) + " more"
	}
	return ""
}

// The overview's counts. Exact counts read the current status of every
// invocation: tens of milliseconds at a million on SQLite, several hundred
// per task on Postgres. A live overview reloads on every change, up to
// twice a second, and every open one would pay that each time. So the
// overview reads counts in the background, one read at a time per kind;
// reuses them while nothing changed (the backend's newest change, where
// it is a state.Watcher, or for countsFresh otherwise); waits for a read
// at most countsWait when it has counts to show meanwhile; and otherwise
// shows those with their age and reloads a moment later.
const (
	countsFresh = time.Second
	// countsWait bounds how long a request waits for a read when it has
	// older counts to show; countsFirstWait when it has none.
	countsWait      = 50 * time.Millisecond
	countsFirstWait = 2 * time.Second
	// countsTimeout bounds a read in the background.
	countsTimeout = time.Minute
	// countsReload is how long a page that showed older counts waits
	// before it reloads.
	countsReload = 2 * time.Second
)

// countCache keeps the overview's last counts, per status and per task,
// and the read in flight of each.
type countCache struct {
	mu sync.Mutex
	m  map[bool]*countEntry
}

type countEntry struct {
	last    cachedCounts
	err     error         // of the last read, when it failed
	running chan struct{} // closed when the read in flight ends; nil when none
}

type cachedCounts struct {
	rows      []state.StatusCount
	estimated bool
	// started is when the read began, and version the backend's newest
	// change then ("" where unknown); zero started for no counts yet.
	started time.Time
	version state.ChangeCursor
	known   bool // version was read
}

// overviewCounts returns the overview's counts and whether they are
// current: read after the backend's newest change (or, where that is
// unknown, less than countsFresh ago). ok is false when there are none
// yet to show.
func (s *server) overviewCounts(ctx context.Context, byTask bool, now time.Time) (c cachedCounts, current, ok bool, err error) {
	version, known := s.version(ctx)
	upToDate := func(c cachedCounts) bool {
		if c.started.IsZero() {
			return false
		}
		if known && c.known {
			return c.version == version
		}
		return now.Sub(c.started) < countsFresh && !now.Before(c.started)
	}
	cc := &s.countCache
	cc.mu.Lock()
	if cc.m == nil {
		cc.m = map[bool]*countEntry{}
	}
	e := cc.m[byTask]
	if e == nil {
		e = &countEntry{}
		cc.m[byTask] = e
	}
	if upToDate(e.last) {
		defer cc.mu.Unlock()
		return e.last, true, true, nil
	}
	if e.running == nil {
		done := make(chan struct{})
		e.running = done
		bg := context.WithoutCancel(ctx)
		go func() {
			defer close(done)
			rctx, cancel := context.WithTimeout(bg, countsTimeout)
			defer cancel()
			read := cachedCounts{started: s.now()}
			read.version, read.known = s.version(rctx)
			var err error
			read.rows, read.estimated, err = s.readCounts(rctx, byTask)
			cc.mu.Lock()
			defer cc.mu.Unlock()
			e.running, e.err = nil, err
			if err != nil {
				s.log.Warn("monitor: counting the invocations failed", "by_task", byTask, "error", err)
				return
			}
			e.last = read
		}()
	}
	running := e.running
	wait := countsWait
	if e.last.started.IsZero() {
		wait = countsFirstWait
	}
	cc.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-running:
	case <-timer.C:
	case <-ctx.Done():
		return cachedCounts{}, false, false, ctx.Err()
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e.last.started.IsZero() {
		return cachedCounts{}, false, false, e.err
	}
	return e.last, upToDate(e.last), true, nil
}

// version returns the backend's newest change, where it is a
// state.Watcher that answers.
func (s *server) version(ctx context.Context) (state.ChangeCursor, bool) {
	if s.watcher == nil {
		return "", false
	}
	v, err := s.watcher.LatestChange(ctx)
	return v, err == nil
}

// readCounts reads the overview's counts: estimated where the backend
// estimates, exact otherwise.
func (s *server) readCounts(ctx context.Context, byTask bool) ([]state.StatusCount, bool, error) {
	if s.estimator != nil {
		return s.estimator.EstimateInvocations(ctx, state.InvocationFilter{}, byTask)
	}
	rows, err := s.browser.CountInvocations(ctx, state.InvocationFilter{}, byTask)
	return rows, false, err
}
