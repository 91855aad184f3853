package main

import (
	"context"
	"runtime"
	"runtime/debug"
)

// W11: the read workloads on large tables. -w11-n invocations and 4 history
// records each are loaded untimed into a fresh environment, then W3, W4, W8
// and W6 run on them unchanged, printed as "W11/<workload>" with n =
// -w11-n, to compare with the same workloads at the usual N.

// largeInvocationBatch is the number of invocations per upsert of the
// untimed load.
const largeInvocationBatch = 1000

// rssTargetMiB is how far a full history iteration may grow the resident
// set: the iterators hold one page at a time.
const rssTargetMiB = 64

// largeW6Result is the W11/W6 line: the usual fields and the growth of the
// resident set during the iteration.
type largeW6Result struct {
	result
	RSSGrowthMiB float64 `json:"rss_growth_mib"` // peak resident set minus the one at the start
}

// runW11 loads the large tables and returns the lines of W11/W3, W11/W4,
// W11/W6 and W11/W8. With -w11-base-n, it also loads tables of that many
// invocations and runs each workload on both, the smaller first, one right
// after the other, so that the two sizes are compared under the same load
// of the machine; the lines of the smaller tables come first.
func runW11(ctx context.Context, b *bench, r int) ([]any, error) {
	sizes := []int{b.cfg.w11N}
	if base := b.cfg.w11BaseN; base > 0 {
		sizes = []int{base, b.cfg.w11N}
	}
	benches := make([]*bench, len(sizes))
	for i, n := range sizes {
		d := newDataset(n)
		e, err := newEnv(ctx, b.cfg)
		if err != nil {
			return nil, err
		}
		defer e.close(ctx)
		st, err := openStore(ctx, e, b.impl)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		benches[i] = &bench{cfg: b.cfg, data: d, impl: b.impl, env: e, st: st}
		if err := benches[i].loadLarge(ctx); err != nil {
			return nil, err
		}
	}

	results := make([]map[string]any, len(sizes))
	for i := range results {
		results[i] = map[string]any{}
	}
	for _, w := range []struct {
		name string
		run  func(context.Context, *bench, *timer) (int, error)
	}{{"W3", runW3}, {"W4", runW4}, {"W8", runW8}} {
		for i, large := range benches {
			res, err := large.timed(ctx, "W11/"+w.name, w.run, r)
			if err != nil {
				return nil, err
			}
			results[i][w.name] = res
		}
	}

	// W6 last, with the datasets (hundreds of MiB at the default size)
	// freed: otherwise the garbage collector, pacing itself to the live
	// heap, would let the iteration's short-lived pages pile up to that
	// size before collecting, and the growth would measure the dataset.
	for _, large := range benches {
		large.data = large.data.sizeOnly()
	}
	for i, large := range benches {
		runtime.GC()
		debug.FreeOSMemory()
		watch, err := startRSSWatch()
		if err != nil {
			return nil, err
		}
		res, err := large.timed(ctx, "W11/W6", runW6, r)
		growth, werr := watch.stop()
		if err != nil {
			return nil, err
		}
		if werr != nil {
			return nil, werr
		}
		if growth > rssTargetMiB {
			logf("%s W11/W6 n=%d: resident set grew by %.1f MiB, more than %d MiB", b.impl, large.data.n, growth, rssTargetMiB)
		}
		results[i]["W6"] = largeW6Result{result: res, RSSGrowthMiB: round(growth, 1)}
	}

	var lines []any
	for i := range sizes {
		for _, w := range []string{"W3", "W4", "W6", "W8"} {
			lines = append(lines, results[i][w])
		}
	}
	return lines, nil
}

// loadLarge loads the bench's dataset untimed: the invocations through the
// impl in large batches, the history by bulk insert, each checked with
// plain SQL and analyzed as ensure does.
func (b *bench) loadLarge(ctx context.Context) error {
	d := b.data
	logf("%s W11: loading %d invocations and %d history records (not reported)", b.impl, d.n, d.records())
	for lo := 0; lo < d.n; lo += largeInvocationBatch {
		if err := b.st.UpsertInvocations(ctx, d.invs[lo:min(lo+largeInvocationBatch, d.n)]); err != nil {
			return err
		}
	}
	if err := checkInvocations(ctx, b.env, d); err != nil {
		return err
	}
	if err := b.env.analyze(ctx, "Invocation"); err != nil {
		return err
	}
	if err := preloadHistory(ctx, b.env, d); err != nil {
		return err
	}
	if err := checkHistory(ctx, b.env, d); err != nil {
		return err
	}
	if err := b.env.analyze(ctx, "History"); err != nil {
		return err
	}
	b.haveInvocations, b.haveHistory = true, true
	return nil
}
