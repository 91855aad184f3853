package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestW12 loads a small W12 dataset on SQLite and runs every query, which
// checks its answers against the dataset.
func TestW12(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.w12N, cfg.w12Reps = 2000, 3
	lines, err := runW12(context.Background(), testBench(t, cfg, "gorm"), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		rows int
	}{
		{"first_page", w12Page}, {"first_page_failed", w12Page}, {"first_page_task", w12Page},
		// Task 3 fails in 1 of 400 invocations.
		{"first_page_task_failed", 5}, {"first_page_last_hour", w12Page},
		{"deep_pages", w12DeepPages * w12Page}, {"count_status", 3}, {"count_task_status", 3 * w12Tasks}, {"count_status_estimate", 3},
		// 2 % of 2000 run, all but the last hour's stuck.
		{"stuck_running", -1},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		res, ok := l.(w12Result)
		if !ok {
			t.Fatalf("line %d: %T", i, l)
		}
		if res.Workload != "W12/"+want[i].name || res.N != 2000 || res.Samples != 3 || res.Ops != 3 {
			t.Errorf("line %d: %+v, want W12/%s, n 2000, 3 samples", i, res, want[i].name)
		}
		if want[i].rows >= 0 && res.Rows != want[i].rows {
			t.Errorf("%s: %d rows, want %d", res.Workload, res.Rows, want[i].rows)
		}
		if res.P50ms <= 0 || res.P99ms < res.P50ms {
			t.Errorf("%s: p50 %v ms, p99 %v ms", res.Workload, res.P50ms, res.P99ms)
		}
	}
	if rows := lines[len(lines)-1].(w12Result).Rows; rows < 30 || rows > 40 {
		t.Errorf("stuck_running: %d rows, want 30 to 40", rows)
	}
}

// TestW12NeedsBrowser checks that the raw impl, which cannot list, fails
// W12 with a message naming the impl to use.
func TestW12NeedsBrowser(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.w12N = 10
	_, err := runW12(context.Background(), testBench(t, cfg, "raw"), 1)
	if err == nil || !strings.Contains(err.Error(), "-impl gorm") {
		t.Fatalf("W12 on raw: %v, want an error naming -impl gorm", err)
	}
}

// TestW12Data checks the dataset's ids, statuses and times.
func TestW12Data(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	d := newW12Data(100000, now)
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 7, 99999, 4096} {
		id := d.id(i)
		if len(id) != 36 || seen[string(id)] {
			t.Errorf("id(%d) = %q", i, id)
		}
		seen[string(id)] = true
		if got, ok := d.index(id); !ok || got != i {
			t.Errorf("index(id(%d)) = %d, %v", i, got, ok)
		}
		h := d.history(i)
		if !h[3].Timestamp.Equal(d.changedAt(i)) || h[3].StatusRecord.Status != d.final(i) {
			t.Errorf("invocation %d: last record %+v, changed at %v", i, h[3], d.changedAt(i))
		}
		if err := d.invocation(i).Validate("inv"); err != nil {
			t.Error(err)
		}
		for _, r := range h {
			if err := r.Validate("h"); err != nil {
				t.Error(err)
			}
		}
	}
	if _, ok := d.index("00000000-0000-4000-8000-000000000001"); ok {
		t.Error("index of a foreign id succeeded")
	}
	var failed, running int64
	for _, c := range d.counts(false) {
		switch c.Status {
		case "failed":
			failed = c.Count
		case "running":
			running = c.Count
		}
	}
	if failed != 5000 || running != 2000 {
		t.Errorf("failed %d, running %d; want 5000 and 2000", failed, running)
	}
	if last := d.changedAt(d.n - 1); !last.Before(now) || last.Before(now.Add(-2*time.Minute)) {
		t.Errorf("last change at %v, want within the 2 minutes before %v", last, now)
	}
}
