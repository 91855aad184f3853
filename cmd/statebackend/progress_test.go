package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRateText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n       int64
		elapsed time.Duration
		want    string
	}{
		{0, 0, ""},
		{0, time.Minute, ""},
		{500, 100 * time.Millisecond, ""}, // too early to tell
		{1200, time.Second, "(1200 rows/s)"},
		{90, 3 * time.Minute, "(30 rows/min)"},
		{1, 2 * time.Hour, "(under 1 rows/min)"},
	} {
		if got := rateText(tc.n, tc.elapsed, "rows"); got != tc.want {
			t.Errorf("rateText(%d, %v) = %q, want %q", tc.n, tc.elapsed, got, tc.want)
		}
	}
}

// TestProgressRate draws a bar into a buffer on a fake clock: no rate at
// the start (the bar's own started at "0 rows/hr"), the rate once a second
// has passed.
func TestProgressRate(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	p := newBar(&out, 10000, "copying invocations", "rows", func() time.Time { return now }, 0)
	p.add(0)
	p.add(100)
	if s := out.String(); strings.Contains(s, "/hr") || strings.Contains(s, "/s)") || !strings.Contains(s, "copying invocations") {
		t.Errorf("at the start the bar shows %q, want the label and no rate", s)
	}
	now = now.Add(2 * time.Second)
	p.add(900)
	if s := out.String(); !strings.Contains(s, "copying invocations (500 rows/s)") || !strings.Contains(s, "(1000/10000)") {
		t.Errorf("after 1000 rows in 2s the bar shows %q, want 500 rows/s", s)
	}
	p.done()
}
