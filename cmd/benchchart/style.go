package main

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The look shared by every chart, and writing them.

// dpi is the resolution of the PNG files: a chart of w x h inches is
// w*dpi x h*dpi pixels.
const dpi = 96

// logSpan is the ratio of the largest to the smallest value above which an
// axis is logarithmic: below it a linear axis from zero reads better.
const logSpan = 30

// newPlot returns a plot with the chart's title and axis labels, the legend
// at the top left.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Padding = vg.Points(3)
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Add(gridLines())
	return p
}

// gridLines returns light horizontal grid lines.
func gridLines() plot.Plotter {
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal.Color = color.Gray{Y: 220}
	return g
}

// implColor returns the color of impl: fixed for gorm, raw and the Python
// baseline, so that they look the same on every chart; others take the
// palette's colors in their order.
func implColor(impl string, i int) color.Color {
	switch impl {
	case "gorm":
		return color.RGBA{R: 31, G: 119, B: 180, A: 255}
	case "raw":
		return color.RGBA{R: 255, G: 127, B: 14, A: 255}
	case "pynenc-python":
		return color.RGBA{R: 127, G: 127, B: 127, A: 255}
	}
	return plotutil.Color(i + 2)
}

// setLog makes axis logarithmic over [lo, hi] (both positive), with room
// around them, labelled at 1, 2 and 5 times powers of ten.
func setLog(a *plot.Axis, lo, hi float64) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = lo/1.5, hi*1.5
}

// useLog reports whether values (all positive) span more than logSpan.
func useLog(lo, hi float64) bool { return lo > 0 && hi/lo > logSpan }

// logTicks marks a logarithmic axis: a tick at every m x 10^k, labelled
// at m = 1, 2 and 5 (at m = 1 only over more than three decades).
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	labelled := func(m int) bool { return m == 1 || m == 2 || m == 5 }
	if math.Log10(hi/lo) > 3 {
		labelled = func(m int) bool { return m == 1 }
	}
	var ticks []plot.Tick
	nLabels := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if labelled(m) {
				t.Label = compact(v)
				nLabels++
			}
			ticks = append(ticks, t)
		}
	}
	if nLabels < 2 { // a narrow range: label every tick
		for i := range ticks {
			ticks[i].Label = compact(ticks[i].Value)
		}
	}
	return ticks
}

// compact formats v with at most three significant digits and a k or M
// suffix: 0.05, 250, 2k, 1.5M.
func compact(v float64) string {
	suffix := ""
	switch {
	case math.Abs(v) >= 1e6:
		v, suffix = v/1e6, "M"
	case math.Abs(v) >= 1e3:
		v, suffix = v/1e3, "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + suffix
}

// linearTicks labels a linear axis with compact numbers.
type linearTicks struct{}

// Ticks implements plot.Ticker.
func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = compact(ticks[i].Value)
		}
	}
	return ticks
}

// savePNG draws the plots, in a grid of rows, on a w x h inch image and
// writes it to path.
func savePNG(path string, w, h vg.Length, rows [][]*plot.Plot) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: len(rows[0]), PadX: vg.Inch / 3, PadY: vg.Inch / 4,
		PadTop: vg.Inch / 10, PadBottom: vg.Inch / 10, PadLeft: vg.Inch / 10, PadRight: vg.Inch / 5}
	canvases := plot.Align(rows, tiles, dc)
	for i, row := range rows {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// chartPath returns dir/<parts joined by ->.png, each part lower-cased
// with anything but letters, digits, dots and dashes replaced.
func chartPath(dir string, parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(p), "_"), "_")
	}
	return filepath.Join(dir, strings.Join(parts, "-")+".png")
}
