package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/taskstate/statebackend/state"
)

// W13: following changes. -w13-writers goroutines add history records,
// one per call, paced to -w13-rate calls per second in all, for
// -w13-duration, while one consumer follows the changes (state.Watcher,
// Follow) with -w13-poll as its poll interval. Each change's latency is
// the time from the return of the call that committed it to its delivery
// (both read from this process's monotonic clock; a change delivered
// before its call returned counts as 0). One line per mode: "W13/poll"
// (the watch polls), and on Postgres also "W13/notify" (it LISTENs too),
// with "p50_ms", "p90_ms", "p99_ms", "max_ms", "samples" (changes
// delivered = ops), "rate" (calls per second achieved), "writers" and
// "poll_ms". Every committed change must be delivered once, or the
// workload fails. Only the library implements state.Watcher: -impl gorm.
func runW13(ctx context.Context, b *bench, r int) ([]any, error) {
	modes := []string{"poll"}
	if b.cfg.dialect == "postgres" {
		modes = append(modes, "notify")
	}
	var lines []any
	for _, mode := range modes {
		res, err := b.w13Mode(ctx, mode, r)
		if err != nil {
			return lines, fmt.Errorf("%s: %w", mode, err)
		}
		x := res.Extra
		logf("%s W13/%s: %d changes at %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			b.impl, mode, res.Ops, x["rate"], x["p50_ms"], x["p99_ms"], x["max_ms"])
		lines = append(lines, res)
	}
	return lines, nil
}

// w13Mode runs W13 in a fresh environment with the watch in mode.
func (b *bench) w13Mode(ctx context.Context, mode string, r int) (result, error) {
	e, err := newEnv(ctx, b.cfg)
	if err != nil {
		return result{}, err
	}
	defer e.close(ctx)
	e.pollOnly = mode == "poll"
	st, err := openStore(ctx, e, b.impl)
	if err != nil {
		return result{}, err
	}
	defer st.Close()
	lib := any(st)
	if s, ok := st.(*sdkStore); ok {
		lib = s.Backend
	}
	w, ok := lib.(state.Watcher)
	if !ok {
		return result{}, errors.New("W13 needs an implementation of state.Watcher: run it with -impl gorm")
	}
	after, err := w.LatestChange(ctx)
	if err != nil {
		return result{}, err
	}

	var mu sync.Mutex
	committed := map[string]time.Time{} // "<invocation> <micros>" -> when its call returned
	var lat []time.Duration
	delivered := 0
	key := func(id state.InvocationID, ts time.Time) string {
		return string(id) + " " + strconv.FormatInt(state.ToMicros(ts), 10)
	}

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() {
		req := state.WatchRequest{After: after, Follow: true, PollInterval: b.cfg.w13Poll,
			Filter: state.ChangeFilter{Kinds: []state.ChangeKind{state.ChangeHistory}}}
		for ch, err := range w.Watch(wctx, req) {
			if err != nil {
				if wctx.Err() != nil {
					err = nil
				}
				watchErr <- err
				return
			}
			now := time.Now()
			mu.Lock()
			delivered++
			k := key(ch.InvocationID, ch.Timestamp)
			if at, ok := committed[k]; ok {
				lat = append(lat, max(now.Sub(at), 0))
				delete(committed, k)
			} else {
				committed[k] = time.Time{} // delivered before its call returned
			}
			mu.Unlock()
		}
		watchErr <- nil
	}()

	writers, rate := b.cfg.w13Writers, b.cfg.w13Rate
	interval := time.Duration(float64(time.Second) * float64(writers) / rate)
	start := time.Now()
	deadline := start.Add(b.cfg.w13Duration)
	calls := make([]int, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			next := start.Add(interval * time.Duration(g) / time.Duration(writers))
			for k := 0; ; k++ {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(deadline) {
					return
				}
				id := state.InvocationID(fmt.Sprintf("w13-%d-%d", g, k/historyPerInv))
				ts := baseTime.Add(time.Duration(k) * time.Millisecond)
				h := state.InvocationHistory{
					InvocationID: id, Timestamp: ts,
					StatusRecord:    state.StatusRecord{Status: historyStatuses[k%historyPerInv], Timestamp: ts},
					RunnerContextID: "w13",
				}
				if err := st.AddHistory(ctx, []state.InvocationID{id}, h); err != nil {
					errs[g] = err
					return
				}
				returned := time.Now()
				mu.Lock()
				k2 := key(id, ts)
				if at, ok := committed[k2]; ok && at.IsZero() {
					lat = append(lat, 0)
					delete(committed, k2)
				} else {
					committed[k2] = returned
				}
				mu.Unlock()
				calls[g]++
				next = next.Add(interval)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	total := 0
	for _, n := range calls {
		total += n
	}
	// Wait for the last changes, then stop the watch.
	waitUntil := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		got := delivered
		mu.Unlock()
		if got >= total || time.Now().After(waitUntil) {
			break
		}
		select {
		case err := <-watchErr:
			return result{}, fmt.Errorf("the watch ended: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	stopWatch()
	if err := <-watchErr; err != nil {
		return result{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != total || len(committed) != 0 {
		return result{}, fmt.Errorf("%d calls committed, %d changes delivered, %d not matched", total, delivered, len(committed))
	}
	res := result{
		Workload: "W13/" + mode, Dialect: b.cfg.dialect, Impl: b.impl, N: total, Ops: delivered,
		Seconds: elapsed.Seconds(), OpsPerSec: float64(delivered) / elapsed.Seconds(), Run: r,
		Extra: map[string]float64{
			"p50_ms": ms(percentile(lat, 0.50)), "p90_ms": ms(percentile(lat, 0.90)),
			"p99_ms": ms(percentile(lat, 0.99)), "max_ms": ms(percentile(lat, 1)),
			"samples": float64(len(lat)), "rate": float64(total) / elapsed.Seconds(),
			"writers": float64(writers), "poll_ms": ms(b.cfg.w13Poll),
		},
	}
	return res, nil
}
