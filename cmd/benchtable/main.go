// Command benchtable summarizes the JSON lines of cmd/statebench: for each
// dialect and N, a Markdown table of gorm against raw per workload (median
// seconds and ops/s over the runs, the ratio gorm seconds / raw seconds of
// the medians, the median of the per-run ratios of wall and of CPU time,
// and, where lines of the Python baseline are given, gorm's rate as a
// multiple of the baseline's), the performance targets that the medians meet or miss, and the
// scaling of each workload measured at two values of N; and for runs of
// statebench -impl telemetry, the cost of the OpenTelemetry instrumentation.
//
// Usage:
//
//	statebench -runs 5 > results.jsonl
//	benchtable results.jsonl [more.jsonl ...]   (or on stdin)
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// line is one object printed by statebench.
type line struct {
	Workload   string  `json:"workload"`
	Dialect    string  `json:"dialect"`
	Impl       string  `json:"impl"`
	N          int     `json:"n"`
	Ops        int     `json:"ops"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	Run        int     `json:"run"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Writers is set on W10's lines, one per (mode, writers) level; they
	// have no single median to compare and are left to cmd/benchchart.
	Writers int `json:"writers"`
}

type key struct {
	dialect, workload, impl string
	n                       int
}

// stat is the median of a group of runs.
type stat struct {
	seconds, opsPerSec float64
	runs               int
	byRun              map[int]float64 // seconds of each run
	cpuByRun           map[int]float64 // CPU seconds of each run
}

func main() {
	groups := map[key][]line{}
	inputs := os.Args[1:]
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, name := range inputs {
		if err := read(name, groups); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
	stats := map[key]stat{}
	for k, ls := range groups {
		stats[k] = stat{
			seconds:   median(ls, func(l line) float64 { return l.Seconds }),
			opsPerSec: median(ls, func(l line) float64 { return l.OpsPerSec }),
			runs:      len(ls),
			byRun:     map[int]float64{},
			cpuByRun:  map[int]float64{},
		}
		for _, l := range ls {
			stats[k].byRun[l.Run] = l.Seconds
			stats[k].cpuByRun[l.Run] = l.CPUSeconds
		}
	}
	printTables(stats)
	printScaling(stats)
	printTelemetry(stats)
}

func read(name string, groups map[key][]line) error {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "{") {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if l.Writers > 0 {
			continue
		}
		if !normalize(&l) {
			continue
		}
		k := key{l.Dialect, l.Workload, l.Impl, l.N}
		groups[k] = append(groups[k], l)
	}
	return sc.Err()
}

// baselineImpl is the impl name of the lines printed by the Python script
// that measures the access pattern of pynenc's SQLite state backend
// (workloads named like "W1_upsert", no "n").
const baselineImpl = "pynenc-python"

// opsPerInvocation is the ops a workload counts per invocation, from which a
// line without "n" gets it.
var opsPerInvocation = map[string]int{
	"W1": 1, "W2": 4, "W3": 1, "W4": 1, "W5": 2, "W6": 4, "W7": 4, "W8": 1,
}

// normalize makes a baseline line look like statebench's: the workload
// name without its suffix ("W1_upsert" is W1), n from ops. It reports
// false for a line that cannot be placed.
func normalize(l *line) bool {
	l.Workload, _, _ = strings.Cut(l.Workload, "_")
	if l.N > 0 {
		return true
	}
	k, ok := opsPerInvocation[l.Workload]
	if !ok || l.Ops%k != 0 {
		return false
	}
	l.N = l.Ops / k
	return true
}

func median(ls []line, f func(line) float64) float64 {
	v := make([]float64, len(ls))
	for i, l := range ls {
		v[i] = f(l)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// printTables prints one table per (dialect, n) with both impls.
func printTables(stats map[key]stat) {
	type table struct {
		dialect string
		n       int
	}
	var tables []table
	for k := range stats {
		if _, ok := stats[key{k.dialect, k.workload, "raw", k.n}]; !ok || k.impl != "gorm" {
			continue
		}
		if t := (table{k.dialect, k.n}); !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	slices.SortFunc(tables, func(a, b table) int {
		return cmp.Or(cmp.Compare(a.dialect, b.dialect), cmp.Compare(a.n, b.n))
	})
	for _, t := range tables {
		fmt.Printf("### %s, N = %d (medians)\n\n", t.dialect, t.n)
		fmt.Println("| workload | gorm s | raw s | gorm/raw | paired | CPU paired | gorm ops/s | raw ops/s | runs | gorm x baseline |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		var misses []string
		for _, w := range workloadsOf(stats, t.dialect, t.n) {
			g, gok := stats[key{t.dialect, w, "gorm", t.n}]
			r, rok := stats[key{t.dialect, w, "raw", t.n}]
			if !gok || !rok {
				continue
			}
			ratio := g.seconds / r.seconds
			vsBaseline := "-"
			if b, ok := stats[key{t.dialect, w, baselineImpl, t.n}]; ok && b.opsPerSec > 0 {
				vsBaseline = fmt.Sprintf("%.1f", g.opsPerSec/b.opsPerSec)
			}
			cpu := "-"
			if v := runRatio(g.cpuByRun, r.cpuByRun); v > 0 {
				cpu = fmt.Sprintf("%.2f", v)
			}
			fmt.Printf("| %s | %.3f | %.3f | %.2f | %s | %s | %.0f | %.0f | %d/%d | %s |\n",
				w, g.seconds, r.seconds, ratio, pairedRatio(g, r), cpu, g.opsPerSec, r.opsPerSec, g.runs, r.runs, vsBaseline)
			if limit := ratioTarget(w); ratio > limit {
				misses = append(misses, fmt.Sprintf("%s gorm/raw %.2f > %.1f", w, ratio, limit))
			}
		}
		misses = append(misses, throughputMisses(stats, t.dialect, t.n)...)
		fmt.Println()
		if len(misses) == 0 {
			fmt.Println("Targets: all met.")
		} else {
			fmt.Println("Targets missed: " + strings.Join(misses, "; ") + ".")
		}
		fmt.Println()
	}
}

// pairedRatio is the median over runs of gorm seconds / raw seconds in the
// same run (statebench measures both impls of a run moments apart), which
// resists bursts of load on a shared machine better than the ratio of the
// medians.
func pairedRatio(g, r stat) string {
	var ls []line
	for run, gs := range g.byRun {
		if rs, ok := r.byRun[run]; ok && rs > 0 {
			ls = append(ls, line{Seconds: gs / rs})
		}
	}
	if len(ls) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", median(ls, func(l line) float64 { return l.Seconds }))
}

func workloadsOf(stats map[key]stat, dialect string, n int) []string {
	var out []string
	for k := range stats {
		if k.dialect == dialect && k.n == n && !slices.Contains(out, k.workload) {
			out = append(out, k.workload)
		}
	}
	slices.Sort(out)
	return out
}

// ratioTarget is the bound on gorm time / raw time: 1.2 for
// workloads that write (W5 sets then reads; counted as a write), 1.3 for
// those that only read.
func ratioTarget(w string) float64 {
	switch strings.TrimPrefix(w, "W11/") { // W11/W3 is W3 on large tables
	case "W3", "W4", "W6", "W8":
		return 1.3
	}
	return 1.2
}

// throughputMisses checks the gorm impl's absolute targets: on SQLite W2
// >= 20,000/s, W3 and W4 >= 55,000/s, W5 >= 30,000/s; on SQLite and
// Postgres W7 >= 2 x W2.
func throughputMisses(stats map[key]stat, dialect string, n int) []string {
	var misses []string
	get := func(w string) (stat, bool) { s, ok := stats[key{dialect, w, "gorm", n}]; return s, ok }
	if dialect == "sqlite" {
		for _, t := range []struct {
			w   string
			min float64
		}{{"W2", 20000}, {"W3", 55000}, {"W4", 55000}, {"W5", 30000}} {
			if s, ok := get(t.w); ok && s.opsPerSec < t.min {
				misses = append(misses, fmt.Sprintf("%s gorm %.0f/s < %.0f/s", t.w, s.opsPerSec, t.min))
			}
		}
	}
	if dialect == "sqlite" || dialect == "postgres" {
		w2, ok2 := get("W2")
		w7, ok7 := get("W7")
		if ok2 && ok7 && w7.opsPerSec < 2*w2.opsPerSec {
			misses = append(misses, fmt.Sprintf("W7 gorm %.0f/s < 2 x W2 (%.0f/s)", w7.opsPerSec, 2*w2.opsPerSec))
		}
	}
	return misses
}

// printScaling compares, per dialect, workload and impl, the median time at
// the largest N with the time at the smallest: linear scaling gives the
// ratio of the Ns; the bound is 1.2 times that (12 for 10 x N), and 1.5
// times for W11's workloads on large tables, whose cost per call or per
// item may grow by half from 200,000 to 2,000,000 history records. The CPU
// ratio is the same for the process's CPU time, which a busy machine
// moves less than the wall time.
func printScaling(stats map[key]stat) {
	type series struct{ dialect, workload, impl string }
	ns := map[series][]int{}
	for k := range stats {
		s := series{k.dialect, k.workload, k.impl}
		ns[s] = append(ns[s], k.n)
	}
	var keys []series
	for s, v := range ns {
		if len(v) > 1 {
			keys = append(keys, s)
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.SortFunc(keys, func(a, b series) int {
		return cmp.Or(cmp.Compare(a.dialect, b.dialect), cmp.Compare(a.workload, b.workload), cmp.Compare(a.impl, b.impl))
	})
	fmt.Println("### Scaling (median time at the larger N / at the smaller N)")
	fmt.Println()
	fmt.Println("| dialect | workload | impl | N small | N large | s small | s large | time ratio | CPU ratio | limit | met |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range keys {
		v := ns[s]
		lo, hi := slices.Min(v), slices.Max(v)
		a, b := stats[key{s.dialect, s.workload, s.impl, lo}], stats[key{s.dialect, s.workload, s.impl, hi}]
		factor := 1.2
		if strings.HasPrefix(s.workload, "W11/") {
			factor = 1.5
		}
		ratio, limit := b.seconds/a.seconds, factor*float64(hi)/float64(lo)
		met := "yes"
		if ratio > limit {
			met = "no"
		}
		cpu := "-"
		if ca, cb := medianOf(a.cpuByRun), medianOf(b.cpuByRun); ca > 0 && cb > 0 {
			cpu = fmt.Sprintf("%.1f", cb/ca)
		}
		fmt.Printf("| %s | %s | %s | %d | %d | %.3f | %.3f | %.1f | %s | %.1f | %s |\n",
			s.dialect, s.workload, s.impl, lo, hi, a.seconds, b.seconds, ratio, cpu, limit, met)
	}
	fmt.Println()
}
