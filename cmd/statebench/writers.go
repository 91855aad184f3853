package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// W10: many writers. For each level of -writers, that many goroutines add
// history records, one per call, upserting a batch of new invocations every
// w10UpsertEvery calls: the write pattern of many workers reporting on
// their tasks. Each (mode, level) runs on a fresh environment.

const (
	w10UpsertBatch = 20 // invocations per upsert call
	// w10UpsertEvery is the number of history records between upserts:
	// 4 per invocation of the batch (registered, pending, running, success).
	w10UpsertEvery = w10UpsertBatch * historyPerInv
)

// W10 modes: one backend for all goroutines, or one per goroutine on the
// same database (on SQLite, the same file).
const (
	modeShared       = "shared"
	modePerGoroutine = "per-goroutine"
)

var w10Modes = []string{modeShared, modePerGoroutine}

// writersResult is a W10 line: the usual fields, the level, and the
// latency of single calls.
type writersResult struct {
	result
	Writers int     `json:"writers"` // goroutines
	Mode    string  `json:"mode"`    // modeShared or modePerGoroutine
	P50ms   float64 `json:"p50_ms"`  // median latency of one call
	P99ms   float64 `json:"p99_ms"`  // 99th percentile latency of one call
	Errors  int     `json:"errors"`  // failed calls
	cpuFigures
}

// runW10 runs every (mode, level) and returns their lines; it stops at the
// first level with a failed call or a failed check.
func runW10(ctx context.Context, b *bench, r int) ([]any, error) {
	var lines []any
	for _, mode := range w10Modes {
		for _, level := range b.cfg.writers {
			res, err := b.writersLevel(ctx, mode, level, r)
			if res != nil {
				lines = append(lines, *res)
				logf("%s W10 %s, %d writers: %.0f calls/s, p99 %.1f ms", b.impl, mode, level, res.OpsPerSec, res.P99ms)
			}
			if err != nil {
				return lines, fmt.Errorf("%s, %d writers: %w", mode, level, err)
			}
		}
	}
	return lines, nil
}

// writersLevel runs level goroutines in mode on a fresh environment, then
// checks that every record and invocation they wrote is stored. The result
// is nil only when the run could not start.
func (b *bench) writersLevel(ctx context.Context, mode string, level, r int) (*writersResult, error) {
	e, err := newEnv(ctx, b.cfg)
	if err != nil {
		return nil, err
	}
	defer e.close(ctx)
	stores := make([]store, level)
	for g := range stores {
		if mode == modeShared && g > 0 {
			stores[g] = stores[0]
			continue
		}
		if stores[g], err = openStore(ctx, e, b.impl); err != nil {
			closeStores(stores, mode)
			return nil, err
		}
	}
	defer closeStores(stores, mode)

	ws := make([]*writer, level)
	for g := range ws {
		ws[g] = newWriter(level, g)
	}
	perWriter := 0
	if b.cfg.w10Ops > 0 {
		perWriter = (b.cfg.w10Ops + level - 1) / level
	}
	runtime.GC() // as timer.start does
	cpu, err := startCPUWatch(b.cfg.serverCPU)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline := start.Add(b.cfg.w10Duration)
	var wg sync.WaitGroup
	for g, w := range ws {
		wg.Go(func() { w.run(ctx, stores[g], deadline, perWriter) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	figures, err := cpu.stop()
	if err != nil {
		return nil, err
	}

	var lat []time.Duration
	calls, invs, failed := 0, 0, 0
	var firstErr error
	for _, w := range ws {
		lat = append(lat, w.lat...)
		calls += len(w.lat)
		invs += len(w.ids)
		failed += w.errors
		if firstErr == nil {
			firstErr = w.err
		}
	}
	for _, s := range stores {
		if n := retryCount(s); n > 0 {
			logf("%s W10 %s %d: %d SQLITE_BUSY retries", b.impl, mode, level, n)
			break // a shared store would be counted level times
		}
	}
	res := &writersResult{
		result: result{
			Workload: "W10", Dialect: b.cfg.dialect, Impl: b.impl, N: invs, Ops: calls,
			Seconds: round(elapsed.Seconds(), 4), OpsPerSec: round(float64(calls)/elapsed.Seconds(), 1), Run: r,
		},
		Writers: level, Mode: mode,
		P50ms: round(ms(percentile(lat, 0.50)), 4), P99ms: round(ms(percentile(lat, 0.99)), 4),
		Errors: failed, cpuFigures: figures,
	}
	if failed > 0 {
		return res, fmt.Errorf("%d of %d calls failed, the first: %w", failed, calls, firstErr)
	}
	return res, checkWriters(ctx, e, stores[0], ws)
}

func closeStores(stores []store, mode string) {
	for g, s := range stores {
		if s != nil && (mode != modeShared || g == 0) {
			_ = s.Close()
		}
	}
}

// writer is one W10 goroutine: what it wrote and how long each call took.
type writer struct {
	g    int
	rng  *rand.Rand
	ids  []state.InvocationID // upserted, in order
	hist int                  // history records added
	lat  []time.Duration      // every call's latency
	// errors counts failed calls; err is the first.
	errors int
	err    error
}

// newWriter returns goroutine g of a level; its ids depend only on the
// level and g.
func newWriter(level, g int) *writer {
	return &writer{g: g, rng: rand.New(rand.NewPCG(idSeed+uint64(level), uint64(g)))}
}

// run makes calls until the deadline, or calls calls when calls > 0: an
// upsert of the next w10UpsertBatch invocations whenever the records of
// the ones upserted so far are all added, else the next history record.
// A failed call is counted and the goroutine goes on, as a worker would.
func (w *writer) run(ctx context.Context, st store, deadline time.Time, calls int) {
	for i := 0; ; i++ {
		if calls > 0 && i >= calls || calls == 0 && !time.Now().Before(deadline) || ctx.Err() != nil {
			return
		}
		var err error
		t0 := time.Now()
		if w.hist == len(w.ids)*historyPerInv {
			batch := w.nextBatch()
			err = st.UpsertInvocations(ctx, batch)
		} else {
			id, h := w.record(w.hist)
			err = st.AddHistory(ctx, []state.InvocationID{id}, h)
			w.hist++
		}
		w.lat = append(w.lat, time.Since(t0))
		if err != nil {
			w.errors++
			if w.err == nil {
				w.err = err
			}
		}
	}
}

// nextBatch returns the next w10UpsertBatch invocations of the writer, new
// top-level workflows with random ids, and records their ids.
func (w *writer) nextBatch() []state.Invocation {
	batch := make([]state.Invocation, w10UpsertBatch)
	for i := range batch {
		k := len(w.ids)
		id := state.InvocationID(uuid(w.rng))
		task := state.TaskID{Module: "bench.writers", FuncName: fmt.Sprintf("task_%02d", k%taskCount)}
		arg := strconv.Itoa(w.g) + "-" + strconv.Itoa(k)
		sum := sha256.Sum256([]byte(`{"x":"` + arg + `"}`))
		batch[i] = state.Invocation{
			ID:        id,
			CallID:    state.CallID{Task: task, ArgsID: hex.EncodeToString(sum[:])},
			Arguments: map[string]string{"x": arg},
			Workflow:  state.WorkflowIdentity{WorkflowID: id, WorkflowType: task},
		}
		w.ids = append(w.ids, id)
	}
	return batch
}

// record returns history record c of the writer: record c/20 % 4 of the
// batch's invocation c % 20, so each batch's invocations pass through the
// four statuses together, as a worker reports a batch of tasks.
func (w *writer) record(c int) (state.InvocationID, state.InvocationHistory) {
	batch, within := c/w10UpsertEvery, c%w10UpsertEvery
	id := w.ids[batch*w10UpsertBatch+within%w10UpsertBatch]
	k := within / w10UpsertBatch
	ts := baseTime.Add(time.Duration(c*historyStepUs) * time.Microsecond)
	h := state.InvocationHistory{
		InvocationID:    id,
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: historyStatuses[k], Timestamp: ts},
		RunnerContextID: "runner-ctx-" + strconv.Itoa(w.g),
	}
	if k >= 2 {
		h.StatusRecord.RunnerID = "runner-" + strconv.Itoa(w.g)
	}
	return id, h
}

// checkWriters checks, with plain SQL, that the tables hold exactly the
// invocations and the history records per invocation that the writers
// added, and reads a few invocations' history back through st.
func checkWriters(ctx context.Context, e *env, st store, ws []*writer) error {
	want := map[state.InvocationID]int{}
	invs := 0
	for _, w := range ws {
		invs += len(w.ids)
		for _, id := range w.ids {
			want[id] = 0
		}
		for c := range w.hist {
			id, _ := w.record(c)
			want[id]++
		}
	}
	if len(want) != invs {
		return fmt.Errorf("writers drew %d distinct ids for %d invocations", len(want), invs)
	}
	if err := checkCount(ctx, e, "Invocation", invs); err != nil {
		return err
	}
	rows, err := e.db.QueryContext(ctx, "SELECT invocation_id, COUNT(*) FROM "+e.table("History")+" GROUP BY invocation_id")
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		if w, ok := want[state.InvocationID(id)]; !ok || n != w {
			return fmt.Errorf("invocation %q has %d history rows, want %d", id, n, w)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range want {
		if n > 0 {
			seen--
		}
	}
	if seen != 0 {
		return errors.New("invocations with history records are missing from the history table")
	}
	for _, w := range ws {
		if len(w.ids) == 0 {
			continue
		}
		for _, id := range []state.InvocationID{w.ids[0], w.ids[len(w.ids)-1]} {
			hs, err := st.History(ctx, id)
			if err != nil {
				return fmt.Errorf("history of %q: %w", id, err)
			}
			if len(hs) != want[id] {
				return fmt.Errorf("history of %q read back with %d records, want %d", id, len(hs), want[id])
			}
		}
	}
	return nil
}
