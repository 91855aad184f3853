package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports how far long work has gone: a bar on stderr when stderr
// is a terminal, nothing otherwise (logs and pipes stay clean). The bar's
// label carries the rate once one is known (see rateText); the bar's own
// rate would start at "0 rows/hr".
type progress struct {
	mu    sync.Mutex // the tables of a copy may advance it at once
	bar   *progressbar.ProgressBar
	label string
	unit  string // what a step is: "rows", "invocations"
	// worked counts the steps worked since start, for the rate; steps
	// skipped (a resumed copy's) advance the bar only.
	worked int64
	start  time.Time
	now    func() time.Time
}

// newProgress starts a bar of total steps (-1: unknown, a spinner) labelled
// desc; unit names a step.
func (c *cli) newProgress(total int64, desc, unit string) *progress {
	if !c.stderrIsTerminal() {
		return &progress{}
	}
	return newBar(c.stderr, total, desc, unit, time.Now, 100*time.Millisecond)
}

// newBar starts a bar drawn on w, at most once per throttle.
func newBar(w io.Writer, total int64, desc, unit string, now func() time.Time, throttle time.Duration) *progress {
	return &progress{
		label: desc, unit: unit, start: now(), now: now,
		bar: progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(throttle),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionUseANSICodes(true),
		),
	}
}

// add advances the bar by n steps worked.
func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.worked += int64(n)
	_ = p.bar.Add(n)
	// After Add: the label's change is drawn with the next step (both draw,
	// throttled).
	if rate := rateText(p.worked, p.now().Sub(p.start), p.unit); rate != "" {
		p.bar.Describe(p.label + " " + rate)
	}
}

// skip advances the bar by n steps that needed no work.
func (p *progress) skip(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// describe changes the bar's label.
func (p *progress) describe(label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.label = label
		p.bar.Describe(label)
	}
}

// done removes the bar.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// rateText is the rate of steps (of unit) worked in elapsed, as the bar
// shows it ("(1200 rows/s)", "(40 rows/min)"), or "" until one is known:
// in the first second, or before the first step.
func rateText(n int64, elapsed time.Duration, unit string) string {
	if n <= 0 || elapsed < time.Second {
		return ""
	}
	perSec := float64(n) / elapsed.Seconds()
	switch {
	case perSec >= 1:
		return fmt.Sprintf("(%.0f %s/s)", perSec, unit)
	case perSec*60 >= 1:
		return fmt.Sprintf("(%.0f %s/min)", perSec*60, unit)
	}
	return fmt.Sprintf("(under 1 %s/min)", unit)
}
