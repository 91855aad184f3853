package main

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Throughput charts: one per (dialect, N), a group of bars per workload,
// one bar per impl, each the median ops/s over the runs.

const throughputW, throughputH = 9 * vg.Inch, 5 * vg.Inch

// table is the (dialect, N) of a throughput chart.
type table struct {
	dialect string
	n       int
}

// drawThroughput writes the throughput charts of samples (all but W10's
// per-level lines) into dir.
func drawThroughput(dir string, samples []sample) ([]string, error) {
	keys, groups := groupBy(samples, func(s sample) (table, bool) {
		return table{s.Dialect, s.N}, s.Writers == 0
	}, func(a, b table) int { return cmp.Or(cmp.Compare(a.dialect, b.dialect), cmp.Compare(a.n, b.n)) })
	var files []string
	for _, k := range keys {
		p, err := throughputPlot(k, groups[k])
		if err != nil {
			return files, fmt.Errorf("throughput %s N=%d: %w", k.dialect, k.n, err)
		}
		path := chartPath(dir, "throughput", k.dialect, fmt.Sprintf("n%d", k.n))
		if err := savePNG(path, throughputW, throughputH, [][]*plot.Plot{{p}}); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

// throughputPlot builds the chart of one (dialect, N).
func throughputPlot(k table, samples []sample) (*plot.Plot, error) {
	type bar struct{ workload, impl string }
	bars, groups := groupBy(samples, func(s sample) (bar, bool) { return bar{s.Workload, s.Impl}, true },
		func(a, b bar) int { return cmp.Or(workloadOrder(a.workload, b.workload), implOrder(a.impl, b.impl)) })
	var workloads, impls []string
	runs := 0
	lo, hi := math.Inf(1), 0.0
	value := map[bar]float64{}
	for _, b := range bars {
		if !slices.Contains(workloads, b.workload) {
			workloads = append(workloads, b.workload)
		}
		if !slices.Contains(impls, b.impl) {
			impls = append(impls, b.impl)
		}
		v := medianOf(groups[b], func(s sample) float64 { return s.OpsPerSec })
		value[b] = v
		lo, hi = min(lo, v), max(hi, v)
		runs = max(runs, len(groups[b]))
	}
	slices.SortFunc(impls, implOrder)

	note := "1 run"
	if runs > 1 {
		note = fmt.Sprintf("median of up to %d runs", runs)
	}
	p := newPlot(fmt.Sprintf("Throughput, %s, N = %d (%s)", k.dialect, k.n, note), "workload", "ops/s (log scale)")
	logY := useLog(lo, hi)
	// Bars on a log axis start at the axis' bottom, not at 0: each bar
	// stacks on an invisible base of that height, never added to the plot.
	floor := 0.0
	if logY {
		setLog(&p.Y, lo, hi)
		p.Y.Max = hi * 4 // room for the legend
		floor = p.Y.Min
	} else {
		p.Y.Label.Text = "ops/s"
		p.Y.Tick.Marker = linearTicks{}
		p.Y.Min, p.Y.Max = 0, hi*1.35
	}
	group := throughputW * 0.8 / vg.Length(len(workloads)+1)
	width := group * 0.8 / vg.Length(len(impls))
	for i, impl := range impls {
		// One chart per bar, so that a workload the impl lacks has no bar
		// rather than an empty one.
		var first *plotter.BarChart
		for j, w := range workloads {
			v, ok := value[bar{w, impl}]
			if !ok {
				continue
			}
			b, err := plotter.NewBarChart(plotter.Values{v - floor}, width)
			if err != nil {
				return nil, err
			}
			if logY {
				base, err := plotter.NewBarChart(plotter.Values{floor}, width)
				if err != nil {
					return nil, err
				}
				b.StackOn(base)
			}
			b.XMin = float64(j)
			b.Offset = (vg.Length(i) - vg.Length(len(impls)-1)/2) * width
			b.Color = implColor(impl, i)
			b.LineStyle.Color = color.Gray{Y: 60}
			b.LineStyle.Width = vg.Points(0.5)
			p.Add(b)
			if first == nil {
				first = b
			}
		}
		p.Legend.Add(impl, first)
	}
	p.NominalX(workloads...)
	p.X.Min, p.X.Max = -0.5, float64(len(workloads))-0.5 // half a group of room at each end
	return p, nil
}
