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
	"gonum.org/v1/plot/vg/draw"
)

// The W10 writers chart: one per dialect, throughput (left) and p99
// latency (middle) against the number of writer goroutines, one line per
// (impl, mode), each point the median over runs; where the lines carry CPU
// figures, a third panel shows the cores the benchmark kept busy (its
// process and the server) next to the cores busy on the whole machine,
// which tells whether the CPU was the limit.

const writersW, writersH = 12 * vg.Inch, 5 * vg.Inch

// writersCPUW is the width of the chart with the CPU panel.
const writersCPUW = 16 * vg.Inch

// curve is one line of the writers chart.
type curve struct{ impl, mode string }

// String returns the legend entry of c: "<impl> <mode>".
func (c curve) String() string { return c.impl + " " + c.mode }

// drawWriters writes the writers chart of each dialect with W10 lines.
func drawWriters(dir string, samples []sample) ([]string, error) {
	dialects, groups := groupBy(samples, func(s sample) (string, bool) { return s.Dialect, s.Writers > 0 }, cmp.Compare[string])
	var files []string
	for _, d := range dialects {
		rows, err := writersPlots(d, groups[d])
		if err != nil {
			return files, fmt.Errorf("writers %s: %w", d, err)
		}
		path := chartPath(dir, "writers", d)
		w := writersW
		if len(rows[0]) == 3 {
			w = writersCPUW
		}
		if err := savePNG(path, w, writersH, rows); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

// writersPlots builds the two panels of one dialect.
func writersPlots(dialect string, samples []sample) ([][]*plot.Plot, error) {
	type point struct {
		curve
		writers int
	}
	points, groups := groupBy(samples, func(s sample) (point, bool) { return point{curve{s.Impl, s.Mode}, s.Writers}, true },
		func(a, b point) int {
			return cmp.Or(implOrder(a.impl, b.impl), cmp.Compare(a.mode, b.mode), cmp.Compare(a.writers, b.writers))
		})
	tput, p99, cores := map[curve]plotter.XYs{}, map[curve]plotter.XYs{}, map[curve]plotter.XYs{}
	var curves []curve
	var levels []float64
	plo, phi, thi := math.Inf(1), 0.0, 0.0
	// The machine's busy cores per level, over every line of the level.
	busy := map[int][]float64{}
	machineCores := 0
	for _, pt := range points {
		if !slices.Contains(curves, pt.curve) {
			curves = append(curves, pt.curve)
		}
		if w := float64(pt.writers); !slices.Contains(levels, w) {
			levels = append(levels, w)
		}
		g := groups[pt]
		t := medianOf(g, func(s sample) float64 { return s.OpsPerSec })
		l := medianOf(g, func(s sample) float64 { return s.P99ms })
		tput[pt.curve] = append(tput[pt.curve], plotter.XY{X: float64(pt.writers), Y: t})
		p99[pt.curve] = append(p99[pt.curve], plotter.XY{X: float64(pt.writers), Y: l})
		plo, phi, thi = min(plo, l), max(phi, l), max(thi, t)
		if g[0].ClientCPUs > 0 {
			c := medianOf(g, sample.coresUsed)
			cores[pt.curve] = append(cores[pt.curve], plotter.XY{X: float64(pt.writers), Y: c})
		}
		for _, s := range g {
			if s.MachineBusy != nil && s.Cores > 0 {
				busy[pt.writers] = append(busy[pt.writers], *s.MachineBusy*float64(s.Cores))
				machineCores = max(machineCores, s.Cores)
			}
		}
	}
	slices.Sort(levels)

	left := newPlot("W10 throughput, "+dialect, "writer goroutines", "calls/s")
	left.Y.Tick.Marker = linearTicks{}
	left.Y.Min, left.Y.Max = 0, thi*1.3
	right := newPlot("W10 p99 latency, "+dialect, "writer goroutines", "p99 of one call (ms)")
	if useLog(plo, phi) {
		setLog(&right.Y, plo, phi)
		right.Y.Max = phi * 4
	} else {
		right.Y.Tick.Marker = linearTicks{}
		right.Y.Min, right.Y.Max = 0, phi*1.3
	}
	panels := []*plot.Plot{left, right}
	var cpu *plot.Plot
	if len(cores) > 0 {
		cpu = newPlot("W10 CPU, "+dialect, "writer goroutines", "cores busy (client + server), average")
		cpu.Y.Tick.Marker = linearTicks{}
		top := float64(machineCores)
		for _, xys := range cores {
			for _, xy := range xys {
				top = max(top, xy.Y)
			}
		}
		cpu.Y.Min, cpu.Y.Max = 0, top*1.35
		panels = append(panels, cpu)
	}
	for _, p := range panels {
		// Writers double and more from level to level: a log axis spaces
		// them evenly, ticked at the levels measured.
		p.X.Scale = plot.LogScale{}
		var ticks plot.ConstantTicks
		for _, l := range levels {
			ticks = append(ticks, plot.Tick{Value: l, Label: compact(l)})
		}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = levels[0]/1.3, levels[len(levels)-1]*1.3
	}
	if cpu != nil && len(busy) > 0 {
		var xys plotter.XYs
		for _, l := range levels {
			if v := busy[int(l)]; len(v) > 0 {
				xys = append(xys, plotter.XY{X: l, Y: median(v)})
			}
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = color.Gray{Y: 110}, color.Gray{Y: 110}
		l.Width = vg.Points(2.5)
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		s.Shape = draw.CrossGlyph{}
		s.Radius = vg.Points(3)
		cpu.Add(l, s)
		cpu.Legend.Add(fmt.Sprintf("whole machine (%d cores), every process", machineCores), l, s)
	}
	for i, c := range curves {
		for _, panel := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{left, tput[c]}, {right, p99[c]}, {cpu, cores[c]}} {
			if panel.p == nil || len(panel.xys) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(panel.xys)
			if err != nil {
				return nil, err
			}
			col := implColor(c.impl, i)
			l.Color, s.Color = col, col
			l.Width = vg.Points(1.5)
			s.Radius = vg.Points(3)
			s.Shape = draw.CircleGlyph{}
			if c.mode != "shared" {
				l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
				s.Shape = draw.BoxGlyph{}
			}
			panel.p.Add(l, s)
			panel.p.Legend.Add(c.String(), l, s)
		}
	}
	return [][]*plot.Plot{panels}, nil
}
