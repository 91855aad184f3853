package statebackend

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/taskstate/statebackend/state"
)

// DefaultRetentionInterval is the time between two background prunes when
// Retention.Interval is 0.
const DefaultRetentionInterval = 10 * time.Minute

// Retention configures the background pruner (see WithRetention).
type Retention struct {
	// OlderThan is how long finished work is kept (see PruneOptions).
	// 0, the default, turns the background pruner off.
	OlderThan time.Duration
	// Interval is the time between two prunes, each wait drawn at random
	// within 20 % of it so that processes started together spread out;
	// 0 means DefaultRetentionInterval.
	Interval time.Duration
	// BatchSize and BatchTimeout are those of PruneOptions.
	BatchSize    int
	BatchTimeout time.Duration
	// Report, when set, is called after each prune this process ran (not
	// when another process held the lock), from the pruner's goroutine.
	Report func(PruneReport)
}

// PruneReport is what one background prune did.
type PruneReport struct {
	// Started and Finished bound the prune, while this process held the
	// database's pruning lock.
	Started, Finished time.Time
	// Stats is what it deleted.
	Stats PruneStats
	// Err is why it stopped early, or nil.
	Err error
}

// WithRetention starts a background pruner with Open: every r.Interval it
// deletes the finished work older than r.OlderThan (see Pruner), in
// batches, and logs what it deleted. Of all the processes that use one
// database (and app), one prunes at a time: the pruner runs only while it
// holds the database's pruning lock (Dialect.TryLock: an advisory lock on
// Postgres and MySQL, a lease row on SQLite), and a process that finds it
// taken waits for its next turn. Each run is one Prune, which deletes what
// was prunable when the run started and leaves records written during it
// to the next run, so a run ends (and lets the lock go) however fast old
// records arrive. It stops when the backend is closed. A
// zero r (OlderThan 0) leaves it off; negative durations or batch size
// make Open fail with ErrInvalidArgument.
func WithRetention(r Retention) Option {
	return func(o *options) { o.retention = r }
}

// validate reports invalid settings, naming the field.
func (r Retention) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"OlderThan", r.OlderThan}, {"Interval", r.Interval}, {"BatchTimeout", r.BatchTimeout}} {
		if d.v < 0 {
			return state.Invalid("Retention."+d.name, fmt.Sprintf("must not be negative, got %v", d.v))
		}
	}
	if r.BatchSize < 0 {
		return state.Invalid("Retention.BatchSize", fmt.Sprintf("must not be negative, got %d", r.BatchSize))
	}
	return nil
}

// startPruner starts the background pruner of b, if r turns it on.
func (b *gormBackend) startPruner(r Retention) {
	if r.OlderThan == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.stopPruner = func() {
		cancel()
		<-done
	}
	interval := cmp.Or(r.Interval, DefaultRetentionInterval)
	name := "statebackend/prune/" + cmp.Or(b.repo.Tables.Prefix(), "default")
	go func() {
		defer close(done)
		for {
			// Within 20 % of the interval, so that processes started
			// together do not all try at once.
			wait := time.Duration(float64(interval) * (0.8 + 0.4*rand.Float64()))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			b.pruneOnce(ctx, name, r)
		}
	}()
}

// pruneOnce prunes if it can take the pruning lock.
func (b *gormBackend) pruneOnce(ctx context.Context, name string, r Retention) {
	release, ok, err := b.tryLock(ctx, name)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("background prune: taking the pruning lock failed", "operation", "Prune", "err", err)
		}
		return
	}
	if !ok {
		b.log.Debug("background prune: another process holds the pruning lock", "operation", "Prune")
		return
	}
	defer release()
	rep := PruneReport{Started: time.Now()}
	rep.Stats, rep.Err = b.Prune(ctx, PruneOptions{OlderThan: r.OlderThan, BatchSize: r.BatchSize, BatchTimeout: r.BatchTimeout})
	rep.Finished = time.Now()
	s := rep.Stats
	attrs := []any{"operation", "Prune", "units", s.Units, "invocations", s.Invocations, "history", s.History, "results", s.Results,
		"exceptions", s.Exceptions, "workflow_runs", s.WorkflowRuns, "workflow_data", s.WorkflowData,
		"sub_invocations", s.SubInvocations, "kept", s.Kept, "batches", s.Batches, "took", rep.Finished.Sub(rep.Started)}
	switch {
	case rep.Err != nil && ctx.Err() == nil:
		b.log.Warn("background prune failed", append(attrs, "err", rep.Err)...)
	case rep.Err == nil:
		b.log.Info("background prune", attrs...)
	}
	if r.Report != nil {
		r.Report(rep)
	}
}
