package main

import (
	"os"
	"runtime"
	"testing"
)

// TestRSSWatch checks that both ways of measuring see a 64 MiB buffer
// touched while they watch (and still resident when they stop).
func TestRSSWatch(t *testing.T) {
	if _, err := procStatus("VmRSS"); err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	var held [][]byte // kept, so that no buffer reuses the pages of the one before
	for _, hwm := range []bool{false, true} {
		if hwm && os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
			t.Log("cannot reset the peak resident set; VmHWM not tested")
			continue
		}
		w, err := watchRSS(hwm)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		growth, err := w.stop()
		held = append(held, buf)
		if err != nil {
			t.Fatal(err)
		}
		if growth < 60 {
			t.Errorf("hwm=%v: growth %.1f MiB after touching 64 MiB", hwm, growth)
		}
		t.Logf("hwm=%v: growth %.1f MiB", hwm, growth)
	}
	runtime.KeepAlive(held)
}
