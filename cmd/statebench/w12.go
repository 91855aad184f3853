package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskstate/statebackend/state"
)

// W12: browsing, what a monitor asks of a large state. -w12-n invocations
// are loaded untimed into a fresh environment, through the library (large
// UpsertInvocations batches, history through state.HistoryImporter, several
// loaders at once), each with four history records (registered, pending,
// running, then success; failed for 5 %, running again for 2 %), over
// w12Tasks tasks and w12Workflows workflows, the invocations' starts spread
// evenly over the day before the load. Then each query of w12Queries runs
// -w12-reps times in turn (fewer when one takes longer than
// w12QueryBudget), each call timed alone, and checked after the timing.
// One line per query: "W12/<query>", n = -w12-n, ops = the calls timed
// ("samples"), seconds their total, and p50_ms, p99_ms, samples and rows
// (the rows of the last call: invocations listed, or count rows). Only the
// library implements state.Browser: -impl gorm (or gorm-off, gorm-sdk).

const (
	w12Tasks     = 20
	w12Workflows = 8
	w12Runners   = 16
	w12Page      = 50 // rows per page of every listing
	w12DeepPages = 20 // pages of the deep walk
	// w12InvBatch and w12HistBatch are the invocations per UpsertInvocations
	// call and per ImportHistory call of the load, w12Loaders the loaders
	// at once (SQLite serializes their commits; servers take them in
	// parallel).
	w12InvBatch  = 5000
	w12HistBatch = w12InvBatch * historyPerInv
	w12Loaders   = 4
	// w12QueryBudget stops the samples of a query once it has taken this
	// long and has w12MinSamples.
	w12QueryBudget = 30 * time.Second
	w12MinSamples  = 5
	// w12StuckAfter is the age of the stuck query.
	w12StuckAfter = time.Hour
)

// w12Result is one W12 line.
type w12Result struct {
	result
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Samples int     `json:"samples"`
	Rows    int     `json:"rows"`
}

// w12Data describes the W12 dataset of n invocations, computed on demand
// (a million invocations are never all in memory).
type w12Data struct {
	n int
	// start is the first invocation's registration; invocation i starts
	// at start + i*step.
	start time.Time
	step  time.Duration
}

func newW12Data(n int, now time.Time) *w12Data {
	// The last change a minute before now: none in the future.
	start := now.Add(-24*time.Hour - time.Minute).Truncate(time.Second)
	return &w12Data{n: n, start: start, step: 24 * time.Hour / time.Duration(n)}
}

// id is the id of invocation i: UUID-like, a hash of i and then i in hex,
// so that the ids' order is not the invocations' and the index can be read
// back (see index).
func (d *w12Data) id(i int) state.InvocationID {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	sum := sha256.Sum256(b[:])
	h := hex.EncodeToString(sum[:9])
	return state.InvocationID(fmt.Sprintf("%s-%s-4%s-8%s-%012x", h[0:8], h[8:12], h[12:15], h[15:18], i))
}

// index returns the index of invocation id, false when it is not one of
// the dataset's.
func (d *w12Data) index(id state.InvocationID) (int, bool) {
	s := string(id)
	if len(s) != 36 {
		return 0, false
	}
	i, err := strconv.ParseInt(s[24:], 16, 64)
	if err != nil || i < 0 || int(i) >= d.n || d.id(int(i)) != id {
		return 0, false
	}
	return int(i), true
}

func w12Task(k int) state.TaskID {
	return state.TaskID{Module: "bench.browse", FuncName: fmt.Sprintf("task_%02d", k)}
}

// final is the last status of invocation i: failed for 5 %, running for
// 2 %, success for the others, alike in every task.
func (d *w12Data) final(i int) state.Status {
	switch j := i / w12Tasks; {
	case j%20 == 7:
		return state.StatusFailed
	case j%50 == 13:
		return state.StatusRunning
	}
	return state.StatusSuccess
}

// invocation returns invocation i: task i % w12Tasks, in workflow
// i % w12Workflows, whose root (invocation i % w12Workflows) is its parent.
func (d *w12Data) invocation(i int) state.Invocation {
	task := w12Task(i % w12Tasks)
	arg := strconv.Itoa(i)
	sum := sha256.Sum256([]byte(`{"x":"` + arg + `"}`))
	inv := state.Invocation{
		ID:        d.id(i),
		CallID:    state.CallID{Task: task, ArgsID: hex.EncodeToString(sum[:])},
		Arguments: map[string]string{"x": arg},
	}
	root := i % w12Workflows
	inv.Workflow = state.WorkflowIdentity{WorkflowID: d.id(root), WorkflowType: w12Task(root % w12Tasks)}
	if root != i {
		inv.ParentInvocationID = d.id(root)
	}
	return inv
}

// history returns the four records of invocation i, 1 s apart from its
// start; the runner context is i % w12Runners (the last record of a
// running-again invocation: the next one).
func (d *w12Data) history(i int) [historyPerInv]state.InvocationHistory {
	var out [historyPerInv]state.InvocationHistory
	t0 := d.start.Add(time.Duration(i) * d.step)
	statuses := [historyPerInv]state.Status{state.StatusRegistered, state.StatusPending, state.StatusRunning, d.final(i)}
	for k, s := range statuses {
		ts := t0.Add(time.Duration(k) * time.Second)
		runner := w12Runner(i)
		if k == historyPerInv-1 && s == state.StatusRunning {
			runner = w12Runner(i + 1)
		}
		h := state.InvocationHistory{
			InvocationID: d.id(i), Timestamp: ts, RunnerContextID: runner,
			StatusRecord: state.StatusRecord{Status: s, Timestamp: ts},
		}
		if k >= 1 {
			h.StatusRecord.RunnerID = runner
		}
		if k == 0 && i%w12Workflows != i {
			h.RegisteredByInvID = d.id(i % w12Workflows)
		}
		out[k] = h
	}
	return out
}

func w12Runner(i int) string { return "runner-ctx-" + strconv.Itoa(i%w12Runners) }

// changedAt is the time of invocation i's current status.
func (d *w12Data) changedAt(i int) time.Time {
	return d.start.Add(time.Duration(i)*d.step + time.Duration(historyPerInv-1)*time.Second)
}

// counts returns what CountInvocations should: the invocations per final
// status, and per task as well when byTask, ordered by task, then status.
func (d *w12Data) counts(byTask bool) []state.StatusCount {
	type key struct {
		task state.TaskID
		s    state.Status
	}
	n := map[key]int64{}
	for i := range d.n {
		k := key{s: d.final(i)}
		if byTask {
			k.task = w12Task(i % w12Tasks)
		}
		n[k]++
	}
	out := make([]state.StatusCount, 0, len(n))
	for k, c := range n {
		out = append(out, state.StatusCount{Task: k.task, Status: k.s, Count: c})
	}
	slices.SortFunc(out, func(a, b state.StatusCount) int {
		if a.Task != b.Task {
			return strings.Compare(a.Task.Key(), b.Task.Key())
		}
		return strings.Compare(string(a.Status), string(b.Status))
	})
	return out
}

// runW12 loads the W12 dataset and returns a line per query.
func runW12(ctx context.Context, b *bench, r int) ([]any, error) {
	needs := func(lib any) error {
		if _, ok := lib.(state.Browser); !ok {
			return errors.New("W12 needs an implementation of state.Browser: run it with -impl gorm")
		}
		return nil
	}
	return b.onW12Dataset(ctx, "W12", needs, func(lib any, e *env, d *w12Data) ([]any, error) {
		br := lib.(state.Browser)
		var lines []any
		for _, q := range w12Queries(d) {
			res, err := b.w12Measure(ctx, br, d, q, r)
			if err != nil {
				return lines, fmt.Errorf("%s: %w", q.name, err)
			}
			logf("%s W12/%s: p50 %.2f ms, p99 %.2f ms (%d samples, %d rows)", b.impl, q.name, res.P50ms, res.P99ms, res.Samples, res.Rows)
			lines = append(lines, res)
		}
		return lines, nil
	})
}

// onW12Dataset opens a fresh environment and store of b's implementation,
// checks the store with needs, loads the W12 dataset of -w12-n
// invocations untimed and settles it, and runs measure with the store (the
// library's, under a telemetry wrapper) and the dataset. workload names
// the load in the log.
func (b *bench) onW12Dataset(ctx context.Context, workload string, needs func(lib any) error,
	measure func(lib any, e *env, d *w12Data) ([]any, error)) ([]any, error) {
	e, err := newEnv(ctx, b.cfg)
	if err != nil {
		return nil, err
	}
	defer e.close(ctx)
	st, err := openStore(ctx, e, b.impl)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	lib := any(st)
	if s, ok := st.(*sdkStore); ok {
		lib = s.Backend
	}
	if err := needs(lib); err != nil {
		return nil, err
	}
	d := newW12Data(b.cfg.w12N, time.Now())
	t0 := time.Now()
	if err := loadW12(ctx, lib, d); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	logf("%s %s: loaded %d invocations and %d history records in %.1f s", b.impl, workload, d.n, d.n*historyPerInv, time.Since(t0).Seconds())
	if err := e.settle(ctx); err != nil {
		return nil, err
	}
	return measure(lib, e, d)
}

// settle vacuums (Postgres) or analyzes every table of the app after a
// load. The load updates each current status four times: on Postgres the
// old versions stay in the indexes until a vacuum, which autovacuum runs
// soon after such a load in production; here it runs at once.
func (e *env) settle(ctx context.Context) error {
	for _, name := range e.tables.Names() {
		if e.sql.vacuum != "" {
			if _, err := e.db.ExecContext(ctx, fmt.Sprintf(e.sql.vacuum, name)); err != nil {
				return fmt.Errorf("vacuum %s: %w", name, err)
			}
			continue
		}
		if err := e.analyzeTable(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// loadW12 writes the dataset through the library: the runner contexts,
// then w12Loaders goroutines each upserting a batch of invocations and
// importing their history, batch after batch.
func loadW12(ctx context.Context, st any, d *w12Data) error {
	lib, ok := st.(interface {
		UpsertInvocations(context.Context, []state.Invocation) error
		StoreRunnerContext(context.Context, state.RunnerContext) error
		state.HistoryImporter
	})
	if !ok {
		return fmt.Errorf("the store cannot import history (state.HistoryImporter)")
	}
	for k := range w12Runners {
		if err := lib.StoreRunnerContext(ctx, state.RunnerContext{
			RunnerCls: "ThreadRunner", RunnerID: w12Runner(k), PID: 1000 + k, Hostname: "bench-host",
		}); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	errs := make([]error, w12Loaders)
	var wg sync.WaitGroup
	for g := range w12Loaders {
		wg.Go(func() {
			invs := make([]state.Invocation, 0, w12InvBatch)
			recs := make([]state.InvocationHistory, 0, w12HistBatch)
			for {
				lo := int(next.Add(w12InvBatch)) - w12InvBatch
				if lo >= d.n || ctx.Err() != nil {
					return
				}
				invs, recs = invs[:0], recs[:0]
				for i := lo; i < min(lo+w12InvBatch, d.n); i++ {
					invs = append(invs, d.invocation(i))
					h := d.history(i)
					recs = append(recs, h[:]...)
				}
				if err := lib.UpsertInvocations(ctx, invs); err != nil {
					errs[g] = fmt.Errorf("invocations %d-%d: %w", lo, lo+len(invs)-1, err)
					cancel()
					return
				}
				if err := lib.ImportHistory(ctx, recs); err != nil {
					errs[g] = fmt.Errorf("history of invocations %d-%d: %w", lo, lo+len(invs)-1, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// w12Query is one timed query: call runs it once and returns what it
// read (rows), check verifies the last call's answer.
type w12Query struct {
	name string
	call func(ctx context.Context, br state.Browser) (w12Answer, error)
}

// w12Answer is what one call read, for its check.
type w12Answer struct {
	rows  int
	check func() error
}

// w12Queries returns the queries W12 times, in order.
func w12Queries(d *w12Data) []w12Query {
	failed := []state.Status{state.StatusFailed}
	task := []state.TaskID{w12Task(3)}
	list := func(name string, filter func() state.InvocationFilter) w12Query {
		return w12Query{name: name, call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			f := filter()
			p, err := br.ListInvocations(ctx, f, state.PageRequest{Limit: w12Page})
			if err != nil {
				return w12Answer{}, err
			}
			return w12Answer{rows: len(p.Invocations), check: func() error { return checkW12Page(d, p, f) }}, nil
		}}
	}
	none := func() state.InvocationFilter { return state.InvocationFilter{} }
	return []w12Query{
		list("first_page", none),
		list("first_page_failed", func() state.InvocationFilter { return state.InvocationFilter{Statuses: failed} }),
		list("first_page_task", func() state.InvocationFilter { return state.InvocationFilter{Tasks: task} }),
		list("first_page_task_failed", func() state.InvocationFilter { return state.InvocationFilter{Tasks: task, Statuses: failed} }),
		list("first_page_last_hour", func() state.InvocationFilter {
			return state.InvocationFilter{ChangedSince: time.Now().Add(-time.Hour)}
		}),
		{name: "deep_pages", call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			var pages []state.InvocationPage
			page := state.PageRequest{Limit: w12Page}
			for range w12DeepPages {
				p, err := br.ListInvocations(ctx, state.InvocationFilter{}, page)
				if err != nil {
					return w12Answer{}, err
				}
				pages = append(pages, p)
				if p.Next == "" {
					break
				}
				page.After = p.Next
			}
			rows := 0
			for _, p := range pages {
				rows += len(p.Invocations)
			}
			return w12Answer{rows: rows, check: func() error { return checkW12Walk(d, pages) }}, nil
		}},
		{name: "count_status", call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			c, err := br.CountInvocations(ctx, state.InvocationFilter{}, false)
			return w12Answer{rows: len(c), check: func() error { return checkW12Counts(d, c, false) }}, err
		}},
		{name: "count_task_status", call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			c, err := br.CountInvocations(ctx, state.InvocationFilter{}, true)
			return w12Answer{rows: len(c), check: func() error { return checkW12Counts(d, c, true) }}, err
		}},
		{name: "count_status_estimate", call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			est, ok := br.(state.CountEstimator)
			if !ok {
				c, err := br.CountInvocations(ctx, state.InvocationFilter{}, false)
				return w12Answer{rows: len(c), check: func() error { return checkW12Counts(d, c, false) }}, err
			}
			c, estimated, err := est.EstimateInvocations(ctx, state.InvocationFilter{}, false)
			return w12Answer{rows: len(c), check: func() error { return checkW12Estimate(d, c, estimated) }}, err
		}},
		{name: "stuck_running", call: func(ctx context.Context, br state.Browser) (w12Answer, error) {
			t0 := time.Now()
			p, err := br.StuckInvocations(ctx, []state.Status{state.StatusRunning}, w12StuckAfter, state.PageRequest{Limit: w12Page})
			if err != nil {
				return w12Answer{}, err
			}
			t1 := time.Now()
			return w12Answer{rows: len(p.Invocations), check: func() error { return checkW12Stuck(d, p, t0, t1) }}, nil
		}},
	}
}

// w12Measure times q: -w12-reps calls, or fewer past w12QueryBudget, and
// checks the last answer.
func (b *bench) w12Measure(ctx context.Context, br state.Browser, d *w12Data, q w12Query, r int) (w12Result, error) {
	t := &timer{}
	if b.cfg.cpuprofile != "" {
		t.profile = fmt.Sprintf("%s.W12-%s.%s.%d.pprof", b.cfg.cpuprofile, q.name, b.impl, r)
	}
	var lat []time.Duration
	var last w12Answer
	if err := t.start(); err != nil {
		return w12Result{}, err
	}
	for len(lat) < b.cfg.w12Reps {
		t0 := time.Now()
		a, err := q.call(ctx, br)
		lat = append(lat, time.Since(t0))
		if err != nil {
			t.stop()
			return w12Result{}, err
		}
		last = a
		if len(lat) >= w12MinSamples && time.Since(t.t0) > w12QueryBudget {
			break
		}
	}
	t.stop()
	if err := last.check(); err != nil {
		return w12Result{}, err
	}
	var total time.Duration
	for _, l := range lat {
		total += l
	}
	secs := total.Seconds()
	return w12Result{
		result: result{
			Workload: "W12/" + q.name, Dialect: b.cfg.dialect, Impl: b.impl, N: d.n, Ops: len(lat),
			Seconds: round(secs, 4), OpsPerSec: round(float64(len(lat))/secs, 1), Run: r,
			CPUSeconds: round(t.cpu.Seconds(), 4),
		},
		P50ms: round(ms(percentile(lat, 0.50)), 3), P99ms: round(ms(percentile(lat, 0.99)), 3),
		Samples: len(lat), Rows: last.rows,
	}, nil
}

// checkW12Summary checks one listed invocation against the dataset.
func checkW12Summary(d *w12Data, s state.InvocationSummary) (int, error) {
	i, ok := d.index(s.ID)
	if !ok {
		return 0, fmt.Errorf("listed %q, not an invocation of the dataset", s.ID)
	}
	h := d.history(i)
	want := h[historyPerInv-1]
	switch {
	case s.Status.Status != want.StatusRecord.Status:
		return i, fmt.Errorf("invocation %d: status %q, want %q", i, s.Status.Status, want.StatusRecord.Status)
	case !s.ChangedAt.Equal(d.changedAt(i)):
		return i, fmt.Errorf("invocation %d: changed at %v, want %v", i, s.ChangedAt, d.changedAt(i))
	case s.Task != w12Task(i%w12Tasks):
		return i, fmt.Errorf("invocation %d: task %v, want %v", i, s.Task, w12Task(i%w12Tasks))
	case s.RunnerContextID != want.RunnerContextID:
		return i, fmt.Errorf("invocation %d: runner %q, want %q", i, s.RunnerContextID, want.RunnerContextID)
	}
	return i, nil
}

// checkW12Page checks a first page of filter f: the newest matches of the
// dataset, in order (every page of W12 is full: each filter matches more
// than a page).
func checkW12Page(d *w12Data, p state.InvocationPage, f state.InvocationFilter) error {
	var want []int
	for i := d.n - 1; i >= 0 && len(want) < w12Page; i-- {
		if (len(f.Statuses) == 0 || slices.Contains(f.Statuses, d.final(i))) &&
			(len(f.Tasks) == 0 || slices.Contains(f.Tasks, w12Task(i%w12Tasks))) &&
			(f.ChangedSince.IsZero() || !d.changedAt(i).Before(f.ChangedSince)) {
			want = append(want, i)
		}
	}
	if len(p.Invocations) != len(want) {
		return fmt.Errorf("%d invocations listed, want %d", len(p.Invocations), len(want))
	}
	for k, s := range p.Invocations {
		i, err := checkW12Summary(d, s)
		if err != nil {
			return err
		}
		if i != want[k] {
			return fmt.Errorf("row %d: invocation %d, want %d", k, i, want[k])
		}
	}
	return nil
}

// checkW12Walk checks the deep walk: the newest invocations, each once, in
// order.
func checkW12Walk(d *w12Data, pages []state.InvocationPage) error {
	k := 0
	for _, p := range pages {
		for _, s := range p.Invocations {
			i, err := checkW12Summary(d, s)
			if err != nil {
				return err
			}
			if i != d.n-1-k {
				return fmt.Errorf("row %d of the walk: invocation %d, want %d", k, i, d.n-1-k)
			}
			k++
		}
	}
	if want := min(d.n, w12DeepPages*w12Page); k != want {
		return fmt.Errorf("the walk listed %d invocations, want %d", k, want)
	}
	return nil
}

// checkW12Counts checks CountInvocations against the dataset.
func checkW12Counts(d *w12Data, counts []state.StatusCount, byTask bool) error {
	if want := d.counts(byTask); !slices.Equal(counts, want) {
		return fmt.Errorf("counts %v, want %v", counts, want)
	}
	return nil
}

// checkW12Estimate checks estimated counts per status: each within 1 % of
// the invocations, or 10 % of its exact count, of the exact count; counts
// that are not estimates must be exact.
func checkW12Estimate(d *w12Data, counts []state.StatusCount, estimated bool) error {
	if !estimated {
		return checkW12Counts(d, counts, false)
	}
	want := map[state.Status]int64{}
	for _, c := range d.counts(false) {
		want[c.Status] = c.Count
	}
	got := map[state.Status]int64{}
	for _, c := range counts {
		got[c.Status] = c.Count
	}
	for st, w := range want {
		diff := got[st] - w
		if diff < 0 {
			diff = -diff
		}
		if float64(diff) > max(0.01*float64(d.n), 0.1*float64(w)) {
			return fmt.Errorf("estimated %d %s invocations, there are %d", got[st], st, w)
		}
	}
	for st := range got {
		if _, ok := want[st]; !ok {
			return fmt.Errorf("estimated %d %s invocations, there are none", got[st], st)
		}
	}
	return nil
}

// checkW12Stuck checks the stuck page of a call made between t0 and t1:
// the oldest running invocations whose status changed more than
// w12StuckAfter before the backend's clock, oldest first. Those that
// crossed the line during the call may be listed or not.
func checkW12Stuck(d *w12Data, p state.InvocationPage, t0, t1 time.Time) error {
	stuck := func(at time.Time) []int {
		var out []int
		for i := 0; i < d.n && len(out) < w12Page; i++ {
			if d.final(i) == state.StatusRunning && d.changedAt(i).Before(at.Add(-w12StuckAfter)) {
				out = append(out, i)
			}
		}
		return out
	}
	must, may := stuck(t0), stuck(t1)
	if len(p.Invocations) < len(must) || len(p.Invocations) > len(may) {
		return fmt.Errorf("%d stuck invocations, want %d to %d", len(p.Invocations), len(must), len(may))
	}
	for k, s := range p.Invocations {
		i, err := checkW12Summary(d, s)
		if err != nil {
			return err
		}
		if i != may[k] {
			return fmt.Errorf("stuck row %d: invocation %d, want %d", k, i, may[k])
		}
	}
	return nil
}
