package main

import (
	"context"
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
