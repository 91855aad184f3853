package main

import (
	"fmt"
	"math"
	"slices"
)

// noopBound is the overhead allowed to the library's instrumentation with
// no-op providers, against the library without it: 3 %.
const noopBound = 1.03

// printTelemetry prints, for each (dialect, n) measured with
// statebench -impl telemetry, the library without instrumentation
// (gorm-off), with no-op providers (gorm) and recording into an in-memory
// SDK (gorm-sdk): median seconds per workload, and the median over runs of
// each impl's time over gorm-off's in the same run; then the geometric mean
// of those ratios over the workloads.
func printTelemetry(stats map[key]stat) {
	type table struct {
		dialect string
		n       int
	}
	var tables []table
	for k := range stats {
		if t := (table{k.dialect, k.n}); k.impl == "gorm-off" && !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	slices.SortFunc(tables, func(a, b table) int {
		if a.dialect != b.dialect {
			if a.dialect < b.dialect {
				return -1
			}
			return 1
		}
		return a.n - b.n
	})
	for _, t := range tables {
		fmt.Printf("### Telemetry overhead: %s, N=%d\n\n", t.dialect, t.n)
		fmt.Println("| workload | runs | off s | no-op s | sdk s | no-op/off | sdk/off |")
		fmt.Println("|---|---|---|---|---|---|---|")
		var noop, sdk []float64
		for _, w := range workloadsOf(stats, t.dialect, t.n) {
			off, ok := stats[key{t.dialect, w, "gorm-off", t.n}]
			if !ok {
				continue
			}
			g, s := stats[key{t.dialect, w, "gorm", t.n}], stats[key{t.dialect, w, "gorm-sdk", t.n}]
			rg, rs := runRatio(g, off), runRatio(s, off)
			if !math.IsNaN(rg) {
				noop = append(noop, rg)
			}
			if !math.IsNaN(rs) {
				sdk = append(sdk, rs)
			}
			fmt.Printf("| %s | %d | %.4f | %s | %s | %s | %s |\n", w, off.runs, off.seconds,
				seconds(g), seconds(s), ratio(rg), ratio(rs))
		}
		gn, gs := geomean(noop), geomean(sdk)
		fmt.Printf("| all (geometric mean) | | | | | %s | %s |\n\n", ratio(gn), ratio(gs))
		if !math.IsNaN(gn) {
			verdict := "within"
			if gn > noopBound {
				verdict = "over"
			}
			fmt.Printf("No-op providers: %+.1f %% against the library without instrumentation, %s the %.0f %% bound.\n\n",
				(gn-1)*100, verdict, (noopBound-1)*100)
		}
	}
}

// runRatio is the median over runs of a's seconds / b's seconds in the same
// run; NaN without a common run.
func runRatio(a, b stat) float64 {
	var ls []line
	for run, as := range a.byRun {
		if bs, ok := b.byRun[run]; ok && bs > 0 {
			ls = append(ls, line{Seconds: as / bs})
		}
	}
	if len(ls) == 0 {
		return math.NaN()
	}
	return median(ls, func(l line) float64 { return l.Seconds })
}

func geomean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range v {
		sum += math.Log(x)
	}
	return math.Exp(sum / float64(len(v)))
}

func seconds(s stat) string {
	if s.runs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4f", s.seconds)
}

func ratio(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.3f", r)
}
