package monitor

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Bounds and geometry of the timeline.
const (
	defaultTimelineWindow = time.Hour
	maxTimelineWindow     = 7 * 24 * time.Hour
	maxLanes              = 40
	maxBars               = 2000
	tlLabelWidth          = 210
	tlPlotWidth           = 900
	tlRight               = 10
	tlLaneHeight          = 22
	tlTop                 = 26
	tlBottom              = 6
	tlTicks               = 6
)

type tlLane struct {
	Y, TextY  float64
	Label     string
	Full, URL string
	Odd       bool
}

// tlBar is one bar; its coordinates are formatted here, which is several
// times quicker than printf in the template for thousands of bars.
type tlBar struct {
	X, Y, W, H string
	Class      string
	Title      string
	URL        string
}

type timelineSVG struct {
	Width, Height       int
	PlotLeft, PlotRight int
	PlotTop, PlotBottom int
	Lanes               []tlLane
	Bars                []tlBar
	Ticks               []chartTick
	Cut                 bool
	CutX                float64
	LabelRight          int
}

type preset struct {
	Label, URL string
}

type timelineData struct {
	Since, Until         string
	SinceText, UntilText string
	Presets              []preset
	SVG                  timelineSVG
	Records              string
	Cut                  bool
	CutAt                string
	LanesMore, BarsMore  int
	Empty                bool
}

// runStarts are the statuses that start a bar: the invocation runs.
func runStarts(s state.Status) bool {
	return s == state.StatusRunning || s == state.StatusRunningRecovery
}

// runEnds are the statuses that end a run: an invocation seen first in
// the window with one of these was running when the window began.
func runEnds(s state.Status) bool {
	switch s {
	case state.StatusSuccess, state.StatusFailed, state.StatusRetry, state.StatusPaused, state.StatusKilled:
		return true
	}
	return false
}

type bar struct {
	inv        state.InvocationID
	runner     string
	start, end time.Time
	status     state.Status
	open       bool // still running at the end of what was read
	before     bool // running when the window began
}

// timeline serves /timeline: the invocations that ran in a window
// ("since", "until"; the last hour by default), one lane per runner
// context and one bar per run, from its running record to the
// invocation's next record, colored by the status that ended it.
//
// It reads the window's history records in time order, at most
// ScanLimit of them, and says where it stopped when the window held
// more: the bars then end there.
func (s *server) timeline(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	until, err := p.time("until", now)
	if err != nil {
		return err
	}
	if until.IsZero() {
		until = now
	}
	since, err := p.time("since", now)
	if err != nil {
		return err
	}
	if since.IsZero() {
		since = until.Add(-defaultTimelineWindow)
	}
	if !since.Before(until) {
		return badRequest("Parameter \"since\" (%s) is not before \"until\" (%s).", formatTime(since), formatTime(until))
	}
	if until.Sub(since) > maxTimelineWindow {
		return badRequest("The window from %s to %s is longer than %s; choose a shorter one.", formatTime(since), formatTime(until), formatDuration(maxTimelineWindow))
	}
	l := linksFor(r)
	d := timelineData{SinceText: formatTime(since), UntilText: formatTime(until)}
	d.Since, _ = p.one("since")
	d.Until, _ = p.one("until")
	for _, ps := range []struct {
		label, since string
	}{{"15 minutes", "15m"}, {"1 hour", "1h"}, {"6 hours", "6h"}, {"24 hours", "24h"}, {"7 days", "168h"}} {
		d.Presets = append(d.Presets, preset{ps.label, l.to("timeline", url.Values{"since": {ps.since}})})
	}

	bars, read, cutAt, err := s.runs(r.Context(), since, until, now)
	if err != nil {
		return err
	}
	d.Records = formatCount(int64(read))
	if !cutAt.IsZero() {
		d.Cut, d.CutAt = true, formatTime(cutAt)
	}
	d.Empty = len(bars) == 0
	if d.SVG, d.LanesMore, d.BarsMore, err = s.drawTimeline(r.Context(), l, bars, since, until, cutAt); err != nil {
		return err
	}
	return s.ok(w, r, "timeline", pageInfo{Title: "Timeline", Nav: "timeline"}, d)
}

// runs reads the window's history and returns its runs, the records
// read, and the time of the last record read when the scan was cut.
func (s *server) runs(ctx context.Context, since, until, now time.Time) (bars []bar, read int, cutAt time.Time, _ error) {
	limit := s.opts.ScanLimit
	open := map[state.InvocationID]*bar{}
	seen := map[state.InvocationID]bool{}
scan:
	for batch, err := range s.b.HistoryInTimeRange(ctx, since, until, min(1000, limit+1)) {
		if err != nil {
			return nil, 0, time.Time{}, err
		}
		for _, h := range batch {
			if read == limit {
				cutAt = h.Timestamp
				break scan
			}
			read++
			st := h.StatusRecord.Status
			if b, ok := open[h.InvocationID]; ok {
				b.end, b.status = h.Timestamp, st
				bars = append(bars, *b)
				delete(open, h.InvocationID)
			} else if !seen[h.InvocationID] && runEnds(st) {
				bars = append(bars, bar{inv: h.InvocationID, runner: h.RunnerContextID, start: since, end: h.Timestamp, status: st, before: true})
			}
			seen[h.InvocationID] = true
			if runStarts(st) {
				open[h.InvocationID] = &bar{inv: h.InvocationID, runner: h.RunnerContextID, start: h.Timestamp, status: st}
			}
		}
	}
	end := until
	if now.Before(end) {
		end = now
	}
	if !cutAt.IsZero() {
		end = cutAt
	}
	for _, b := range open {
		b.end, b.open = end, true
		if b.end.Before(b.start) {
			b.end = b.start
		}
		bars = append(bars, *b)
	}
	slices.SortFunc(bars, func(a, b bar) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.inv, b.inv))
	})
	return bars, read, cutAt, nil
}

// drawTimeline lays bars out in lanes, at most maxLanes lanes and
// maxBars bars; it returns how many lanes and bars it left out.
func (s *server) drawTimeline(ctx context.Context, l links, bars []bar, since, until, cutAt time.Time) (timelineSVG, int, int, error) {
	lanes := map[string]int{}
	var names []string
	for _, b := range bars {
		if _, ok := lanes[b.runner]; !ok {
			lanes[b.runner] = 0
			names = append(names, b.runner)
		}
	}
	slices.Sort(names)
	lanesMore := max(0, len(names)-maxLanes)
	names = names[:min(len(names), maxLanes)]
	for i, n := range names {
		lanes[n] = i + 1 // 0: not drawn
	}
	var drawn []bar
	barsMore := 0
	for _, b := range bars {
		if lanes[b.runner] == 0 || len(drawn) == maxBars {
			barsMore++
			continue
		}
		drawn = append(drawn, b)
	}

	// The tasks, for the bars' titles.
	tasks := map[state.InvocationID]state.TaskID{}
	var ids []state.InvocationID
	for _, b := range drawn {
		if _, ok := tasks[b.inv]; !ok {
			tasks[b.inv] = state.TaskID{}
			ids = append(ids, b.inv)
		}
	}
	for chunk := range slices.Chunk(ids, 500) {
		invs, err := s.b.Invocations(ctx, chunk)
		if err != nil {
			return timelineSVG{}, 0, 0, err
		}
		for id, inv := range invs {
			tasks[id] = inv.CallID.Task
		}
	}

	svg := timelineSVG{
		Width: tlLabelWidth + tlPlotWidth + tlRight, PlotLeft: tlLabelWidth, PlotRight: tlLabelWidth + tlPlotWidth,
		PlotTop: tlTop, LabelRight: tlLabelWidth - 6,
	}
	svg.PlotBottom = tlTop + max(1, len(names))*tlLaneHeight
	svg.Height = svg.PlotBottom + tlBottom
	span := float64(until.Sub(since))
	x := func(t time.Time) float64 {
		return float64(tlLabelWidth) + float64(tlPlotWidth)*float64(t.Sub(since))/span
	}
	for i, n := range names {
		y := float64(tlTop + i*tlLaneHeight)
		label := text(n)
		if n == "" {
			label = "(no runner context)"
		}
		full := label
		if r := []rune(label); len(r) > 30 {
			label = string(r[:14]) + "…" + string(r[len(r)-15:])
		}
		svg.Lanes = append(svg.Lanes, tlLane{Y: y, TextY: y + tlLaneHeight/2 + 4, Label: label, Full: full, URL: l.runner(n), Odd: i%2 == 1})
	}
	for _, b := range drawn {
		i := lanes[b.runner] - 1
		x0, x1 := x(b.start), x(b.end)
		class := statusClass(b.status)
		if b.open {
			class = statusClass(state.StatusRunning) + " open"
		}
		title := text(string(b.inv))
		if t := tasks[b.inv]; !t.IsZero() {
			title += " · " + text(t.Key())
		}
		title += "\n" + formatTime(b.start) + " → " + formatTime(b.end) + " (" + formatDuration(b.end.Sub(b.start)) + ")"
		switch {
		case b.open:
			title += "\nrunning at the end of the records read"
		default:
			title += "\nended " + string(b.status)
		}
		if b.before {
			title += "\nrunning before the window began"
		}
		svg.Bars = append(svg.Bars, tlBar{
			X: coord(x0, 2), Y: coord(float64(tlTop+i*tlLaneHeight)+4, 1), W: coord(max(1.5, x1-x0), 2), H: coord(tlLaneHeight-8, 1),
			Class: class, Title: title, URL: l.invocation(b.inv),
		})
	}
	layout := "15:04:05"
	if until.Sub(since) > 24*time.Hour {
		layout = "01-02 15:04"
	}
	for i := range tlTicks + 1 {
		t := since.Add(time.Duration(float64(until.Sub(since)) * float64(i) / tlTicks))
		svg.Ticks = append(svg.Ticks, chartTick{X: x(t), Y: tlTop - 8, Label: t.UTC().Format(layout)})
	}
	if !cutAt.IsZero() {
		svg.Cut, svg.CutX = true, x(cutAt)
	}
	return svg, lanesMore, barsMore, nil
}

// coord formats an SVG coordinate with prec decimals.
func coord(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
