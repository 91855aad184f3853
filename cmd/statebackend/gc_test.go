package main

import (
	"runtime/debug"
	"testing"
)

// gcPercent returns the garbage collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// TestCollectLess checks that a copy raises the collector's target only
// when the user has not set GOGC, and puts it back after.
func TestCollectLess(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	restore := collectLess()
	if got := gcPercent(); got != bulkGCPercent {
		t.Errorf("without GOGC the target is %d during a copy, want %d", got, bulkGCPercent)
	}
	restore()
	if got := gcPercent(); got != 100 {
		t.Errorf("after the copy the target is %d, want 100 again", got)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	restore = collectLess()
	if got := gcPercent(); got != 50 {
		t.Errorf("with GOGC=50 the target is %d during a copy, want 50", got)
	}
	restore()
	if got := gcPercent(); got != 50 {
		t.Errorf("with GOGC=50 the target is %d after a copy, want 50", got)
	}
}
