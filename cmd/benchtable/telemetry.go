package main

import (
	"cmp"
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
// SDK (gorm-sdk): per workload, the median over runs of each impl's wall
// time and CPU time over gorm-off's in the same run; then the geometric
// means of those ratios over the workloads. On a machine other processes
// keep busy, the CPU ratios are the steadier measure.
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
		return cmp.Or(cmp.Compare(a.dialect, b.dialect), cmp.Compare(a.n, b.n))
	})
	for _, t := range tables {
		fmt.Printf("### Telemetry overhead: %s, N=%d\n\n", t.dialect, t.n)
		fmt.Println("| workload | runs | off s | no-op/off | sdk/off | off CPU s | no-op/off CPU | sdk/off CPU |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
		var ratios [4][]float64 // no-op wall, sdk wall, no-op CPU, sdk CPU
		for _, w := range workloadsOf(stats, t.dialect, t.n) {
			off, ok := stats[key{t.dialect, w, "gorm-off", t.n}]
			if !ok {
				continue
			}
			g, s := stats[key{t.dialect, w, "gorm", t.n}], stats[key{t.dialect, w, "gorm-sdk", t.n}]
			rs := [4]float64{
				runRatio(g.byRun, off.byRun), runRatio(s.byRun, off.byRun),
				runRatio(g.cpuByRun, off.cpuByRun), runRatio(s.cpuByRun, off.cpuByRun),
			}
			for i, r := range rs {
				if !math.IsNaN(r) {
					ratios[i] = append(ratios[i], r)
				}
			}
			fmt.Printf("| %s | %d | %.4f | %s | %s | %.4f | %s | %s |\n", w, off.runs, off.seconds,
				ratio(rs[0]), ratio(rs[1]), medianOf(off.cpuByRun), ratio(rs[2]), ratio(rs[3]))
		}
		var g [4]float64
		for i := range ratios {
			g[i] = geomean(ratios[i])
		}
		fmt.Printf("| all (geometric mean) | | | %s | %s | | %s | %s |\n\n", ratio(g[0]), ratio(g[1]), ratio(g[2]), ratio(g[3]))
		for _, m := range []struct {
			what string
			r    float64
		}{{"wall time", g[0]}, {"CPU time", g[2]}} {
			if math.IsNaN(m.r) {
				continue
			}
			verdict := "within"
			if m.r > noopBound {
				verdict = "over"
			}
			fmt.Printf("No-op providers, %s: %+.1f %% against the library without instrumentation, %s the %.0f %% bound.\n",
				m.what, (m.r-1)*100, verdict, (noopBound-1)*100)
		}
		fmt.Println()
	}
}

// runRatio is the median over runs of a's value / b's value in the same
// run; NaN without a common run.
func runRatio(a, b map[int]float64) float64 {
	var v []float64
	for run, x := range a {
		if y, ok := b[run]; ok && y > 0 {
			v = append(v, x/y)
		}
	}
	return medianValues(v)
}

func medianOf(byRun map[int]float64) float64 {
	var v []float64
	for _, x := range byRun {
		v = append(v, x)
	}
	return medianValues(v)
}

func medianValues(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
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

func ratio(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.3f", r)
}
