package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	samples, err := parse("sample.jsonl", strings.NewReader(sampleLines()))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*2*8*2 + 4 + 6 + 2; len(samples) != want {
		t.Fatalf("%d samples, want %d", len(samples), want)
	}
	last := samples[len(samples)-1]
	if last.Workload != "W6" || last.Impl != "pynenc-python" || last.N != 2000 {
		t.Errorf("baseline line read as %+v, want W6 of pynenc-python at N 2000", last)
	}
	w10 := samples[len(samples)-3]
	if w10.Writers != 64 || w10.Mode != "per-goroutine" || w10.P99ms != 128 {
		t.Errorf("W10 line read as %+v", w10)
	}
}

func TestParseComputesOpsPerSec(t *testing.T) {
	t.Parallel()
	s, err := parse("x", strings.NewReader(`{"workload":"W3","dialect":"sqlite","impl":"gorm","n":10,"ops":10,"seconds":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if s[0].OpsPerSec != 5 {
		t.Errorf("ops_per_sec %g, want 5", s[0].OpsPerSec)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good := `{"workload":"W1","dialect":"sqlite","impl":"gorm","n":10,"ops":10,"seconds":1,"ops_per_sec":10}`
	tests := []struct {
		name, input, want string
	}{
		{"truncated JSON", good + "\n\n" + `{"workload":"W1",`, "results.jsonl:3: not a JSON object"},
		{"not JSON", "# header\n" + good + "\nstatebench: sqlite: SQLite 3.54.1", "results.jsonl:3: not a JSON object"},
		{"two values", good + good, "results.jsonl:1: more than one JSON value"},
		{"wrong type", `{"workload":"W1","dialect":"sqlite","impl":"gorm","n":"ten","ops":10,"seconds":1}`, "results.jsonl:1: not a JSON object"},
		{"no workload", `{"dialect":"sqlite","impl":"gorm","n":10,"ops":10,"seconds":1}`, `results.jsonl:1: no "workload"`},
		{"no impl", `{"workload":"W1","dialect":"sqlite","n":10,"ops":10,"seconds":1}`, `results.jsonl:1: no "dialect" or "impl"`},
		{"zero seconds", good + "\n" + `{"workload":"W1","dialect":"sqlite","impl":"gorm","n":10,"ops":10,"seconds":0}`, `results.jsonl:2: "ops" (10) and "seconds" (0) must be positive`},
		{"no n, unknown workload", `{"workload":"W9","dialect":"sqlite","impl":"x","ops":10,"seconds":1}`, `results.jsonl:1: no "n", and the ops of W9 do not give it`},
		{"no n, ops not a multiple", `{"workload":"W2","dialect":"sqlite","impl":"x","ops":10,"seconds":1}`, `results.jsonl:1: no "n"`},
		{"writers without mode", `{"workload":"W10","dialect":"postgres","impl":"gorm","n":1,"ops":10,"seconds":1,"writers":8,"p99_ms":1}`, `results.jsonl:1: a line with "writers" needs "mode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse("results.jsonl", strings.NewReader(tt.input))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

func TestWorkloadOrder(t *testing.T) {
	t.Parallel()
	got := []string{"W11/W4", "W10", "W2", "W11/W3", "W1", "other"}
	want := []string{"W1", "W2", "W10", "W11/W3", "W11/W4", "other"}
	slices.SortFunc(got, workloadOrder)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sorted %v, want %v", got, want)
	}
}
