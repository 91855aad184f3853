package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// need is the data a workload reads.
type need int

const (
	needInvocations need = 1 << iota // W1's
	needHistory                      // W2's
)

// workload is one measurement. run does the work between t.start and
// t.stop, then verifies what it wrote or read; it returns the number of
// operations timed. A workload that prints several lines (W10, W11) has
// report instead: it builds its own environments, times its parts and
// returns its lines.
type workload struct {
	name   string
	needs  need
	run    func(ctx context.Context, b *bench, t *timer) (ops int, err error)
	report func(ctx context.Context, b *bench, r int) ([]any, error)
}

// workloads run by default, in this order.
var workloads = []workload{
	{name: "W1", run: runW1},
	{name: "W2", run: runW2},
	{name: "W3", needs: needInvocations, run: runW3},
	{name: "W4", needs: needHistory, run: runW4},
	{name: "W5", run: runW5},
	{name: "W6", needs: needHistory, run: runW6},
	{name: "W7", run: runW7},
	{name: "W8", needs: needHistory, run: runW8},
}

// namedOnly are the workloads that run only when -workloads names them:
// they take minutes and work in environments of their own.
var namedOnly = []workload{
	{name: "W9", run: runW9},
	{name: "W10", report: runW10},
	{name: "W11", report: runW11},
	{name: "W12", report: runW12},
	{name: "W13", report: runW13},
	{name: "W14", report: runW14},
}

const (
	upsertBatch = 100 // W1 invocations per call
	rangeBatch  = 100 // W6, W8 batch size
	writers     = 8   // W7 goroutines
)

// bench is one implementation on one fresh environment.
type bench struct {
	cfg  *config
	data *dataset
	impl string
	env  *env
	st   store

	haveInvocations, haveHistory bool
	// extra holds the last workload's numbers beyond ops and time.
	extra map[string]float64
}

// timer measures the timed part of a workload, with a CPU profile of just
// that part when profile is set.
type timer struct {
	profile string
	t0      time.Time
	elapsed time.Duration
	// cpu0 and cpu are the process's CPU time at start and used until
	// stop.
	cpu0, cpu time.Duration
	pf        *os.File
}

func (t *timer) start() error {
	runtime.GC()
	if t.profile != "" {
		f, err := os.Create(t.profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return err
		}
		t.pf = f
	}
	t.t0, t.cpu0 = time.Now(), processCPU()
	return nil
}

func (t *timer) stop() {
	t.elapsed, t.cpu = time.Since(t.t0), processCPU()-t.cpu0
	if t.pf != nil {
		pprof.StopCPUProfile()
		_ = t.pf.Close()
		t.pf = nil
	}
}

// ensure loads the data w reads when the workload that writes it has not
// run: invocations through the impl's W1, untimed; history by a bulk
// insert, untimed.
func (b *bench) ensure(ctx context.Context, w workload) error {
	if w.needs&needInvocations != 0 && !b.haveInvocations {
		logf("%s %s: loading invocations (W1, not reported)", b.impl, w.name)
		if _, err := runW1(ctx, b, &timer{}); err != nil {
			return err
		}
	}
	if w.needs&needHistory != 0 && !b.haveHistory {
		logf("%s %s: loading history (bulk insert, not reported)", b.impl, w.name)
		if err := preloadHistory(ctx, b.env, b.data); err != nil {
			return err
		}
		if err := checkHistory(ctx, b.env, b.data); err != nil {
			return err
		}
		if err := b.env.analyze(ctx, "History"); err != nil {
			return err
		}
		b.haveHistory = true
	}
	return nil
}

// W1: upsert all N invocations, 100 per call.
func runW1(ctx context.Context, b *bench, t *timer) (int, error) {
	invs := b.data.invs
	if err := t.start(); err != nil {
		return 0, err
	}
	for lo := 0; lo < len(invs); lo += upsertBatch {
		if err := b.st.UpsertInvocations(ctx, invs[lo:min(lo+upsertBatch, len(invs))]); err != nil {
			return 0, err
		}
	}
	t.stop()
	if err := checkInvocations(ctx, b.env, b.data); err != nil {
		return 0, err
	}
	if err := b.env.analyze(ctx, "Invocation"); err != nil {
		return 0, err
	}
	b.haveInvocations = true
	return len(invs), nil
}

// W2: 4 history records per invocation, one call per record, increasing
// timestamps.
func runW2(ctx context.Context, b *bench, t *timer) (int, error) {
	n := b.data.records()
	if err := t.start(); err != nil {
		return 0, err
	}
	if err := addRecords(ctx, b.st, b.data, 0, b.data.n); err != nil {
		return 0, err
	}
	t.stop()
	if err := checkHistory(ctx, b.env, b.data); err != nil {
		return 0, err
	}
	if err := b.env.analyze(ctx, "History"); err != nil {
		return 0, err
	}
	b.haveHistory = true
	return n, nil
}

// addRecords adds the history records of invocations [lo, hi), one call
// per record.
func addRecords(ctx context.Context, st store, d *dataset, lo, hi int) error {
	for j := lo * historyPerInv; j < hi*historyPerInv; j++ {
		id, h := d.record(j)
		if err := st.AddHistory(ctx, []state.InvocationID{id}, h); err != nil {
			return fmt.Errorf("record %d: %w", j, err)
		}
	}
	return nil
}

// W3: N random single-invocation reads.
func runW3(ctx context.Context, b *bench, t *timer) (int, error) {
	order := b.data.readOrder()
	if err := t.start(); err != nil {
		return 0, err
	}
	for _, i := range order {
		inv, err := b.st.Invocation(ctx, b.data.ids[i])
		if err != nil {
			return 0, err
		}
		if inv.ID != b.data.ids[i] {
			return 0, fmt.Errorf("read invocation %q, got %q", b.data.ids[i], inv.ID)
		}
	}
	t.stop()
	return len(order), checkReadInvocations(ctx, b.st, b.data)
}

// W4: N random single-invocation history reads.
func runW4(ctx context.Context, b *bench, t *timer) (int, error) {
	order := b.data.readOrder()
	if err := t.start(); err != nil {
		return 0, err
	}
	for _, i := range order {
		hs, err := b.st.History(ctx, b.data.ids[i])
		if err != nil {
			return 0, err
		}
		if len(hs) != historyPerInv || hs[0].InvocationID != b.data.ids[i] {
			return 0, fmt.Errorf("history of %q: %d records", b.data.ids[i], len(hs))
		}
	}
	t.stop()
	return len(order), checkReadHistory(ctx, b.st, b.data)
}

// W5: set N results, then read them all (in random order).
func runW5(ctx context.Context, b *bench, t *timer) (int, error) {
	d := b.data
	payloads := make([][]byte, d.n)
	for i := range payloads {
		payloads[i] = d.result(i)
	}
	order := d.permutation()
	if err := t.start(); err != nil {
		return 0, err
	}
	for i, id := range d.ids {
		if err := b.st.SetResult(ctx, id, payloads[i]); err != nil {
			return 0, err
		}
	}
	for _, i := range order {
		got, err := b.st.Result(ctx, d.ids[i])
		if err != nil {
			return 0, err
		}
		if string(got) != string(payloads[i]) {
			return 0, fmt.Errorf("result of %q: got %q", d.ids[i], got)
		}
	}
	t.stop()
	return 2 * d.n, checkResults(ctx, b.env, d)
}

// W6: iterate all history in the whole time range, batch size 100.
func runW6(ctx context.Context, b *bench, t *timer) (int, error) {
	start, end := b.data.timeRange()
	var count int
	var prev time.Time
	if err := t.start(); err != nil {
		return 0, err
	}
	for batch, err := range b.st.HistoryInTimeRange(ctx, start, end, rangeBatch) {
		if err != nil {
			return 0, err
		}
		for i := range batch {
			if batch[i].Timestamp.Before(prev) {
				return 0, fmt.Errorf("record %d out of order", count+i)
			}
			prev = batch[i].Timestamp
		}
		count += len(batch)
	}
	t.stop()
	if want := b.data.records(); count != want {
		return 0, fmt.Errorf("read %d history records, want %d", count, want)
	}
	return count, nil
}

// W7: W2 from 8 goroutines at once, each on its own slice of the
// invocations, on a fresh environment so it writes into an empty history
// as W2 does.
func runW7(ctx context.Context, b *bench, t *timer) (int, error) {
	e, err := newEnv(ctx, b.cfg)
	if err != nil {
		return 0, err
	}
	defer e.close(ctx)
	st, err := openStore(ctx, e, b.impl)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	d := b.data
	errs := make([]error, writers)
	var wg sync.WaitGroup
	if err := t.start(); err != nil {
		return 0, err
	}
	for g := range writers {
		wg.Go(func() {
			errs[g] = addRecords(ctx, st, d, g*d.n/writers, (g+1)*d.n/writers)
		})
	}
	wg.Wait()
	t.stop()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	if r := retryCount(st); r > 0 {
		logf("%s W7: %d SQLITE_BUSY retries", b.impl, r)
	}
	return d.records(), checkHistory(ctx, e, d)
}

// W8: iterate invocation ids in the whole time range, batch size 100.
func runW8(ctx context.Context, b *bench, t *timer) (int, error) {
	start, end := b.data.timeRange()
	var count int
	var prev state.InvocationID
	if err := t.start(); err != nil {
		return 0, err
	}
	for batch, err := range b.st.InvocationIDsInTimeRange(ctx, start, end, rangeBatch) {
		if err != nil {
			return 0, err
		}
		for _, id := range batch {
			if id <= prev {
				return 0, fmt.Errorf("invocation id %q after %q", id, prev)
			}
			prev = id
		}
		count += len(batch)
	}
	t.stop()
	if count != b.data.n {
		return 0, fmt.Errorf("read %d invocation ids, want %d", count, b.data.n)
	}
	return count, nil
}
