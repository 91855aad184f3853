package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

// W14: the web monitor's pages on a large state. The W12 dataset (-w12-n
// invocations, 4 history records each) is loaded untimed through the
// library, then each page of w14Pages is requested -w12-reps times in
// turn through the monitor's handler (no network: the server's time), and
// checked to answer 200. One line per page, "W14/<page>", with "p50_ms",
// "p99_ms" (of every request), "first_ms" (the first request, which fills
// the monitor's caches), "samples" (= ops) and "bytes" (of the last
// response). Only the library serves every page: -impl gorm.
func runW14(ctx context.Context, b *bench, r int) ([]any, error) {
	needs := func(lib any) error {
		if _, ok := lib.(state.Backend); !ok {
			return errors.New("W14 needs the library: run it with -impl gorm")
		}
		return nil
	}
	return b.onW12Dataset(ctx, "W14", needs, func(lib any, e *env, d *w12Data) ([]any, error) {
		h, err := monitor.New(lib.(state.Backend), monitor.Options{Database: "statebench", AppID: e.appID})
		if err != nil {
			return nil, err
		}
		var lines []any
		for _, p := range w14Pages(d) {
			res, err := w14Measure(ctx, h, p, b.cfg.w12Reps)
			if err != nil {
				return lines, fmt.Errorf("%s: %w", p.name, err)
			}
			res.result = result{Workload: "W14/" + p.name, Dialect: b.cfg.dialect, Impl: b.impl, N: d.n,
				Ops: res.Samples, Seconds: res.seconds, OpsPerSec: float64(res.Samples) / res.seconds, Run: r}
			logf("%s W14/%s: p50 %.2f ms, p99 %.2f ms, first %.2f ms (%d samples, %d bytes)", b.impl, p.name, res.P50ms, res.P99ms, res.FirstMs, res.Samples, res.Bytes)
			lines = append(lines, res)
		}
		return lines, nil
	})
}

// w14Page is one page W14 requests.
type w14Page struct{ name, path string }

// w14Pages are the pages an operator opens: the overview (counts, recent
// failures, the hour's and the day's chart), listings, an invocation, a
// workflow run, the runners and the timeline.
func w14Pages(d *w12Data) []w14Page {
	task := w12Task(3).Key()
	leaf := d.id(d.n / 2) // a child of a workflow root
	root := d.id(1)
	return []w14Page{
		{"overview", "/"},
		{"overview-by-task", "/?by=task"},
		{"overview-day", "/?window=day"},
		{"invocations", "/invocations"},
		{"invocations-failed", "/invocations?status=failed"},
		{"invocations-task-failed", "/invocations?task=" + url.QueryEscape(task) + "&status=failed"},
		{"invocations-last-hour", "/invocations?since=1h"},
		{"invocation", "/invocations/" + url.PathEscape(string(leaf))},
		{"invocation-root", "/invocations/" + url.PathEscape(string(root))},
		{"workflows", "/workflows"},
		{"workflow-run", "/workflow-runs/" + url.PathEscape(string(root))},
		{"runners", "/runners"},
		{"runner", "/runners/" + url.PathEscape(w12Runner(5))},
		{"timeline", "/timeline"},
	}
}

// w14Result is one W14 line.
type w14Result struct {
	result
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Samples int     `json:"samples"`
	Bytes   int     `json:"bytes"`
	// FirstMs is the first request's time, which fills the monitor's
	// caches (the overview's counts, the chart's ended buckets).
	FirstMs float64 `json:"first_ms"`
	seconds float64
}

// w14Measure requests p reps times (fewer once w12QueryBudget has passed
// with w12MinSamples), each timed alone.
func w14Measure(ctx context.Context, h http.Handler, p w14Page, reps int) (w14Result, error) {
	var lat []time.Duration
	var res w14Result
	began := time.Now()
	for i := 0; i < reps; i++ {
		if i >= w12MinSamples && time.Since(began) > w12QueryBudget {
			break
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, p.path, nil)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		took := time.Since(start)
		if rec.Code != http.StatusOK {
			return res, fmt.Errorf("GET %s: %d %s", p.path, rec.Code, truncate(rec.Body.String(), 300))
		}
		lat = append(lat, took)
		res.Bytes = rec.Body.Len()
		res.seconds += took.Seconds()
	}
	res.Samples = len(lat)
	if len(lat) > 0 {
		res.FirstMs = ms(lat[0]) // before percentile sorts lat
	}
	res.P50ms, res.P99ms = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99))
	return res, nil
}

// truncate returns s cut to n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
