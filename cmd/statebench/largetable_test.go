package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

func TestW11(t *testing.T) {
	t.Parallel()
	for _, impl := range []string{"gorm", "raw"} {
		t.Run(impl, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			lines, err := runW11(context.Background(), testBench(t, cfg, impl), 1)
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				name string
				ops  int
			}{{"W11/W3", 300}, {"W11/W4", 300}, {"W11/W6", 1200}, {"W11/W8", 300}}
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d", len(lines), len(want))
			}
			for i, l := range lines {
				var res result
				switch v := l.(type) {
				case result:
					res = v
				case largeW6Result:
					res = v.result
					if v.RSSGrowthMiB < 0 {
						t.Errorf("rss growth %v", v.RSSGrowthMiB)
					}
				}
				if res.Workload != want[i].name || res.N != 300 || res.Ops != want[i].ops {
					t.Errorf("line %d: %+v, want %s with n 300, ops %d", i, res, want[i].name, want[i].ops)
				}
			}
		})
	}
}

// TestW11BaseN checks that -w11-base-n measures both sizes, the smaller
// first, each workload's lines with their own n.
func TestW11BaseN(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.w11BaseN = 100
	lines, err := runW11(context.Background(), testBench(t, cfg, "gorm"), 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		var res result
		switch v := l.(type) {
		case result:
			res = v
		case largeW6Result:
			res = v.result
		}
		got = append(got, fmt.Sprintf("%s/%d/%d", res.Workload, res.N, res.Ops))
	}
	want := []string{
		"W11/W3/100/100", "W11/W4/100/100", "W11/W6/100/400", "W11/W8/100/100",
		"W11/W3/300/300", "W11/W4/300/300", "W11/W6/300/1200", "W11/W8/300/300",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}
