package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// rssWatch measures how far the resident set of the process grows above
// its size at start, from /proc/self/status (Linux). Where the process may
// reset its peak (writing 5 to /proc/self/clear_refs), the kernel's high
// water mark VmHWM gives the exact peak; elsewhere a goroutine samples
// VmRSS every rssSampleEvery and may miss short peaks.
type rssWatch struct {
	before int64 // kB
	stopc  chan struct{}
	wg     sync.WaitGroup
	peak   int64 // kB, sampled; written by the sampler until stop
}

const rssSampleEvery = 2 * time.Millisecond

// startRSSWatch starts measuring, from the kernel's high water mark where
// the process may reset it, else by sampling; it fails where
// /proc/self/status is missing.
func startRSSWatch() (*rssWatch, error) {
	return watchRSS(os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil)
}

// watchRSS starts measuring: with VmHWM after the caller reset it
// (hwmReset), else by sampling VmRSS.
func watchRSS(hwmReset bool) (*rssWatch, error) {
	rss, err := procStatus("VmRSS")
	if err != nil {
		return nil, err
	}
	w := &rssWatch{before: rss, peak: rss}
	if hwmReset {
		return w, nil
	}
	w.stopc = make(chan struct{})
	w.wg.Go(func() {
		tick := time.NewTicker(rssSampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-w.stopc:
				return
			case <-tick.C:
				if v, err := procStatus("VmRSS"); err == nil {
					w.peak = max(w.peak, v)
				}
			}
		}
	})
	return w, nil
}

// stop ends the measurement and returns the growth of the resident set
// above its size at start, in MiB (never negative).
func (w *rssWatch) stop() (float64, error) {
	var peak int64
	if w.stopc == nil {
		hwm, err := procStatus("VmHWM")
		if err != nil {
			return 0, err
		}
		peak = hwm
	} else {
		close(w.stopc)
		w.wg.Wait()
		peak = w.peak
		// A last sample, for a watch shorter than the sampling interval.
		if v, err := procStatus("VmRSS"); err == nil {
			peak = max(peak, v)
		}
	}
	return float64(max(peak-w.before, 0)) / 1024, nil
}

// procStatus returns a "kB" field of /proc/self/status.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(value), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
		}
		return kb, nil
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}
