package main

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports how far long work has gone: a bar on stderr when stderr
// is a terminal, nothing otherwise (logs and pipes stay clean).
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress starts a bar of total steps (-1: unknown, a spinner) labelled
// desc.
func (c *cli) newProgress(total int64, desc string) *progress {
	if !c.stderrIsTerminal() {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionUseANSICodes(true),
	)}
}

// add advances the bar by n steps.
func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// describe changes the bar's label.
func (p *progress) describe(label string) {
	if p.bar != nil {
		p.bar.Describe(label)
	}
}

// done removes the bar.
func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
