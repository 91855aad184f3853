package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

func TestW10(t *testing.T) {
	t.Parallel()
	for _, impl := range []string{"gorm", "raw"} {
		t.Run(impl, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			lines, err := runW10(context.Background(), testBench(t, cfg, impl), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != len(w10Modes)*len(cfg.writers) {
				t.Fatalf("%d lines, want %d", len(lines), len(w10Modes)*len(cfg.writers))
			}
			for i, l := range lines {
				res := l.(writersResult)
				mode, level := w10Modes[i/len(cfg.writers)], cfg.writers[i%len(cfg.writers)]
				// 400 calls in all: per writer, upserts before every 80
				// records: 400 = 5 upserts + 395 records for one writer.
				upserts := 0
				for c := 0; c < 400/level; c++ {
					if c%(w10UpsertEvery+1) == 0 {
						upserts++
					}
				}
				if res.Workload != "W10" || res.Mode != mode || res.Writers != level || res.Ops != 400 ||
					res.Errors != 0 || res.N != level*upserts*w10UpsertBatch || res.P50ms <= 0 || res.P99ms < res.P50ms {
					t.Errorf("line %d: %+v", i, res)
				}
			}
		})
	}
}

// failingStore fails every third history call.
type failingStore struct {
	store
	calls int
}

func (f *failingStore) UpsertInvocations(context.Context, []state.Invocation) error { return nil }

func (f *failingStore) AddHistory(context.Context, []state.InvocationID, state.InvocationHistory) error {
	f.calls++
	if f.calls%3 == 0 {
		return errors.New("injected")
	}
	return nil
}

func TestWriterCountsFailedCalls(t *testing.T) {
	t.Parallel()
	w := newWriter(1, 0)
	w.run(context.Background(), &failingStore{}, time.Time{}, 100)
	// 100 calls: 2 upserts, 98 records, of which every third failed.
	if len(w.lat) != 100 || w.hist != 98 || len(w.ids) != 2*w10UpsertBatch || w.errors != 32 || w.err == nil {
		t.Fatalf("calls %d, records %d, ids %d, errors %d (%v)", len(w.lat), w.hist, len(w.ids), w.errors, w.err)
	}
}

// TestWriterRecords checks that each batch's invocations get the four
// statuses in order, each once.
func TestWriterRecords(t *testing.T) {
	t.Parallel()
	w := newWriter(8, 3)
	w.nextBatch()
	got := map[state.InvocationID][]state.Status{}
	var prev time.Time
	for c := range w10UpsertEvery {
		id, h := w.record(c)
		if h.InvocationID != id || !h.Timestamp.After(prev) {
			t.Fatalf("record %d: %+v", c, h)
		}
		prev = h.Timestamp
		got[id] = append(got[id], h.StatusRecord.Status)
	}
	if len(got) != w10UpsertBatch {
		t.Fatalf("%d invocations, want %d", len(got), w10UpsertBatch)
	}
	for id, st := range got {
		if len(st) != historyPerInv || st[0] != historyStatuses[0] || st[3] != historyStatuses[3] {
			t.Errorf("%s: %v", id, st)
		}
	}
}

func TestParseMachineTicks(t *testing.T) {
	t.Parallel()
	got, err := parseMachineTicks([]byte("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	// busy: user, nice, system, irq, softirq, steal; idle and iowait not.
	if got != (machineTicks{busy: 160, total: 1000}) {
		t.Errorf("got %+v", got)
	}
	if f := got.busySince(machineTicks{busy: 60, total: 800}); f != 0.5 {
		t.Errorf("busySince = %v, want 0.5", f)
	}
	if _, err := parseMachineTicks([]byte("intr 1 2\n")); err == nil {
		t.Error("no error for a file without a cpu line")
	}
}

func TestParseServerCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"123456789\n", 123456789 * time.Nanosecond, true},                         // cgroup v1 cpuacct.usage
		{"usage_usec 2500000\nuser_usec 2000000\n", 2500 * time.Millisecond, true}, // cgroup v2 cpu.stat
		{"user_usec 2000000\n", 0, false},
		{"", 0, false},
	} {
		got, err := parseServerCPU([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseServerCPU(%q) = %v, %v", tc.in, got, err)
		}
	}
}
