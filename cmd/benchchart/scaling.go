package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Scaling charts: for the workloads whose cost per item should not grow
// with the table, microseconds per item against N, log-log, one line per
// impl; a flat line is linear scaling. W11's lines are those workloads on
// large tables, so W11/W6 is a point of W6 at N = its n.

const scalingW, scalingH = 8 * vg.Inch, 5 * vg.Inch

// scalingWorkloads are the workloads charted against N.
var scalingWorkloads = []string{"W3", "W4", "W6", "W8"}

// series is the (dialect, workload) of a scaling chart.
type series struct{ dialect, workload string }

// drawScaling writes a scaling chart into dir for each (dialect, workload)
// where some impl was measured at two or more N.
func drawScaling(dir string, samples []sample) ([]string, error) {
	keys, groups := groupBy(samples, func(s sample) (series, bool) {
		w := strings.TrimPrefix(s.Workload, "W11/")
		return series{s.Dialect, w}, s.Writers == 0 && slices.Contains(scalingWorkloads, w)
	}, func(a, b series) int {
		return cmp.Or(cmp.Compare(a.dialect, b.dialect), workloadOrder(a.workload, b.workload))
	})
	var files []string
	for _, k := range keys {
		p, ok, err := scalingPlot(k, groups[k])
		if err != nil {
			return files, fmt.Errorf("scaling %s %s: %w", k.dialect, k.workload, err)
		}
		if !ok {
			continue
		}
		path := chartPath(dir, "scaling", k.dialect, k.workload)
		if err := savePNG(path, scalingW, scalingH, [][]*plot.Plot{{p}}); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

// scalingPlot builds the chart of one (dialect, workload); ok is false when
// no impl has two N.
func scalingPlot(k series, samples []sample) (p *plot.Plot, ok bool, err error) {
	type point struct {
		impl string
		n    int
	}
	points, groups := groupBy(samples, func(s sample) (point, bool) { return point{s.Impl, s.N}, true },
		func(a, b point) int { return cmp.Or(implOrder(a.impl, b.impl), cmp.Compare(a.n, b.n)) })
	lines := map[string]plotter.XYs{}
	var impls []string
	xlo, xhi, ylo, yhi := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, pt := range points {
		us := medianOf(groups[pt], func(s sample) float64 { return s.Seconds / float64(s.Ops) * 1e6 })
		if !slices.Contains(impls, pt.impl) {
			impls = append(impls, pt.impl)
		}
		lines[pt.impl] = append(lines[pt.impl], plotter.XY{X: float64(pt.n), Y: us})
		xlo, xhi, ylo, yhi = min(xlo, float64(pt.n)), max(xhi, float64(pt.n)), min(ylo, us), max(yhi, us)
	}
	if !slices.ContainsFunc(impls, func(impl string) bool { return len(lines[impl]) > 1 }) {
		return nil, false, nil
	}
	p = newPlot(fmt.Sprintf("Scaling of %s, %s (median per N)", k.workload, k.dialect),
		"N (invocations)", "microseconds per "+itemOf(k.workload))
	setLog(&p.X, xlo, xhi)
	setLog(&p.Y, ylo, yhi)
	p.Y.Max = yhi * 4 // room for the legend
	for i, impl := range impls {
		l, s, err := plotter.NewLinePoints(lines[impl])
		if err != nil {
			return nil, false, err
		}
		c := implColor(impl, i)
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		p.Add(l, s)
		p.Legend.Add(impl, l, s)
	}
	return p, true, nil
}

// itemOf names what one op of the workload is.
func itemOf(workload string) string {
	switch workload {
	case "W6":
		return "history record"
	case "W8":
		return "invocation id"
	}
	return "call"
}
