package main

import (
	"fmt"
	"strings"
)

// sampleLines returns JSON lines like statebench's and the Python
// baseline's: W1-W8 for gorm and raw at two N over two runs, W11, W10 at
// three levels in both modes, and the baseline's lines (no "n", suffixed
// workload names).
func sampleLines() string {
	var b strings.Builder
	ops := map[string]int{"W1": 1, "W2": 4, "W3": 1, "W4": 1, "W5": 2, "W6": 4, "W7": 4, "W8": 1}
	for _, n := range []int{2000, 20000} {
		for run := 1; run <= 2; run++ {
			for i, w := range []string{"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"} {
				for j, impl := range []string{"gorm", "raw"} {
					secs := float64(n) / 1e4 * float64(i+1+j) * float64(run)
					fmt.Fprintf(&b, `{"workload":%q,"dialect":"sqlite","impl":%q,"n":%d,"ops":%d,"seconds":%g,"ops_per_sec":%g,"run":%d}`+"\n",
						w, impl, n, n*ops[w], secs, float64(n*ops[w])/secs, run)
				}
			}
		}
	}
	b.WriteString("# a comment, then a blank line\n\n")
	for _, w := range []string{"W3", "W4", "W6", "W8"} {
		fmt.Fprintf(&b, `{"workload":"W11/%s","dialect":"sqlite","impl":"gorm","n":500000,"ops":%d,"seconds":30,"ops_per_sec":%g,"run":1,"rss_growth_mib":3.5}`+"\n",
			w, 500000*ops[w], float64(500000*ops[w])/30)
	}
	for _, mode := range []string{"shared", "per-goroutine"} {
		for _, level := range []int{1, 8, 64} {
			fmt.Fprintf(&b, `{"workload":"W10","dialect":"postgres","impl":"gorm","n":1000,"ops":%d,"seconds":10,"ops_per_sec":%d,"run":1,"writers":%d,"mode":%q,"p50_ms":0.5,"p99_ms":%d,"errors":0}`+"\n",
				5000*level, 500*level, level, mode, 2*level)
		}
	}
	b.WriteString(`{"workload": "W1_upsert", "dialect": "sqlite", "impl": "pynenc-python", "ops": 2000, "seconds": 0.09, "ops_per_sec": 22130.9}` + "\n")
	b.WriteString(`{"workload": "W6_history_range", "dialect": "sqlite", "impl": "pynenc-python", "ops": 8000, "seconds": 1.44, "ops_per_sec": 5553.5}` + "\n")
	return b.String()
}
