package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// W9: retention. The dataset's N invocations (N/10 top-level workflows of
// ten) with four history records each are loaded untimed, every fifth
// workflow still live (its root's last record is "running" instead of
// "success"), so 80 % of the records are eligible. Timed: one Prune of
// everything finished more than an hour ago (the dataset is older), in
// batches of -prune-batch invocations. Meanwhile one writer adds a record
// per call (a new live invocation each time) and times each call; before
// the prune the same writer runs alone for w9Baseline. Ops are the history
// records pruned; extra reports the writer's latencies (milliseconds,
// p50/p99/max, alone and during the prune), its calls, and the prune's
// deleted rows and batches. Only -impl gorm implements Prune.

// w9Baseline is how long the writer runs alone before the prune.
const w9Baseline = 5 * time.Second

// w9Retention is the prune's OlderThan: the dataset is far older, the
// writer's records are newer.
const w9Retention = time.Hour

func runW9(ctx context.Context, b *bench, t *timer) (int, error) {
	// A fresh environment, as W7 has: the other workloads' data would be
	// in the way.
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
	p, ok := st.(state.Pruner)
	if !ok {
		return 0, fmt.Errorf("W9 needs an implementation of state.Pruner: run it with -impl gorm")
	}
	d := b.data
	logf("%s W9: loading %d invocations and %d history records (untimed)", b.impl, d.n, d.records())
	if err := loadW9(ctx, e, st, d); err != nil {
		return 0, err
	}
	w := &w9Writer{st: st}
	alone, err := w.run(ctx, nil, w9Baseline)
	if err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	var during []time.Duration
	var werr error
	var wg sync.WaitGroup
	wg.Go(func() { during, werr = w.run(ctx, stop, 0) })
	if err := t.start(); err != nil {
		close(stop)
		wg.Wait()
		return 0, err
	}
	stats, err := p.Prune(ctx, state.PruneOptions{OlderThan: w9Retention, BatchSize: b.cfg.pruneBatch})
	t.stop()
	close(stop)
	wg.Wait()
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	if werr != nil {
		return 0, fmt.Errorf("writer: %w", werr)
	}
	wantUnits := int64(d.n/workflowEvery) - int64((d.n/workflowEvery+4)/5)
	if stats.Units != wantUnits || stats.History != 4*workflowEvery*wantUnits {
		return 0, fmt.Errorf("prune deleted %d units and %d records, want %d and %d", stats.Units, stats.History, wantUnits, 4*workflowEvery*wantUnits)
	}
	if n, err := e.count(ctx, "History"); err != nil || n != d.records()-int(stats.History)+w.calls {
		return 0, fmt.Errorf("%d history records left (%v), want %d", n, err, d.records()-int(stats.History)+w.calls)
	}
	b.extra = map[string]float64{
		"alone_p50_ms": round(ms(quantile(alone, 0.50)), 3), "alone_p99_ms": round(ms(quantile(alone, 0.99)), 3), "alone_max_ms": round(ms(quantile(alone, 1)), 3),
		"alone_calls":   float64(len(alone)),
		"during_p50_ms": round(ms(quantile(during, 0.50)), 3), "during_p99_ms": round(ms(quantile(during, 0.99)), 3), "during_max_ms": round(ms(quantile(during, 1)), 3),
		"during_calls": float64(len(during)), "units": float64(stats.Units), "invocations": float64(stats.Invocations),
		"batches": float64(stats.Batches), "batch_size": float64(b.cfg.pruneBatch),
	}
	logf("%s W9: pruned %d units (%d records) in %d batches; writer p99 %.1f ms alone, %.1f ms during the prune (%d calls)",
		b.impl, stats.Units, stats.History, stats.Batches, b.extra["alone_p99_ms"], b.extra["during_p99_ms"], len(during))
	return int(stats.History), nil
}

// loadW9 writes the W9 dataset: the invocations through the store, in
// large batches, and the history by bulk insert, with the root of every
// fifth workflow left running.
func loadW9(ctx context.Context, e *env, st store, d *dataset) error {
	for lo := 0; lo < d.n; lo += 1000 {
		if err := st.UpsertInvocations(ctx, d.invs[lo:min(lo+1000, d.n)]); err != nil {
			return err
		}
	}
	live := func(j int) bool {
		i := j / historyPerInv
		return j%historyPerInv == historyPerInv-1 && i%workflowEvery == 0 && (i/workflowEvery)%5 == 0
	}
	if err := bulkHistory(ctx, e, d, live); err != nil {
		return err
	}
	for _, model := range []string{"History", "Invocation"} {
		if err := e.analyze(ctx, model); err != nil {
			return err
		}
	}
	if e.cfg.dialect == "postgres" {
		// Flush what the load dirtied now, not while the writer's
		// latencies are measured (a checkpoint of a million fresh rows
		// stalls commits on a slow disk). It needs the pg_checkpoint
		// role; without it the measurement goes on as it is.
		if _, err := e.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			logf("W9: CHECKPOINT after the load failed (%v); the writer's baseline may include its flush", err)
		}
	}
	return nil
}

// bulkHistory inserts the dataset's history as preloadHistory does, with
// the records for which running says so set to "running".
func bulkHistory(ctx context.Context, e *env, d *dataset, running func(j int) bool) error {
	cols := "(invocation_id, history_timestamp, history_status, history_json)"
	insert := "INSERT INTO " + e.table("History") + " " + cols + " VALUES "
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		q := e.sql.bind(insert + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(args)/4), ", "))
		_, err := tx.ExecContext(ctx, q, args...)
		args = args[:0]
		return err
	}
	for j := range d.records() {
		id, h := d.record(j)
		if running(j) {
			h.StatusRecord.Status = state.StatusRunning
		}
		args = append(args, string(id), state.ToMicros(h.Timestamp), string(h.StatusRecord.Status), string(h.AppendJSON(nil)))
		if len(args) == 4*preloadRows {
			if err := flush(); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if (j+1)%preloadTx == 0 {
			if err := flush(); err != nil {
				_ = tx.Rollback()
				return err
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			if tx, err = e.db.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// w9Writer adds one record per call, each to a new live invocation.
type w9Writer struct {
	st    store
	calls int
}

// run writes until stop is closed (or, with stop nil, for d) and returns
// each call's latency.
func (w *w9Writer) run(ctx context.Context, stop <-chan struct{}, d time.Duration) ([]time.Duration, error) {
	var lat []time.Duration
	end := time.Now().Add(d)
	for {
		if stop == nil && time.Now().After(end) {
			return lat, nil
		}
		select {
		case <-stop:
			return lat, nil
		default:
		}
		id := state.InvocationID(fmt.Sprintf("w9-writer-%09d", w.calls))
		now := time.Now()
		h := state.InvocationHistory{Timestamp: now, StatusRecord: state.StatusRecord{Status: state.StatusRunning, RunnerID: "w9", Timestamp: now}}
		t0 := time.Now()
		if err := w.st.AddHistory(ctx, []state.InvocationID{id}, h); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
		w.calls++
	}
}

// quantile returns the q-quantile of ds (q = 1: the maximum); 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
