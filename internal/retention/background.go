package retention

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// Schedule says when and how the background pruner prunes.
type Schedule struct {
	// Interval is the time between two prunes, each wait drawn at random
	// within 20 % of it.
	Interval time.Duration
	// Options are those of each prune.
	Options state.PruneOptions
	// Name names the pruning lock: one pruner per name prunes at a time,
	// across processes.
	Name string
}

// Report is what one background prune did.
type Report struct {
	Started, Finished time.Time
	Stats             state.PruneStats
	Err               error
}

// Start starts the background pruner: every s.Interval, while it holds the
// pruning lock, it runs prune (the store's Prune, with its telemetry) and
// passes what it did to report, when not nil. The returned stop ends it
// and waits for it.
func (pr *Pruner) Start(s Schedule, prune func(context.Context, state.PruneOptions) (state.PruneStats, error), report func(Report)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	interval := s.Interval
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
			pr.pruneOnce(ctx, s, prune, report)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// pruneOnce prunes if it can take the pruning lock.
func (pr *Pruner) pruneOnce(ctx context.Context, sched Schedule, prune func(context.Context, state.PruneOptions) (state.PruneStats, error), report func(Report)) {
	release, ok, err := pr.TryLock(ctx, sched.Name)
	if err != nil {
		if ctx.Err() == nil {
			pr.log.Warn("background prune: taking the pruning lock failed", "operation", op.Prune.String(), "err", err)
		}
		return
	}
	if !ok {
		pr.log.Debug("background prune: another process holds the pruning lock", "operation", op.Prune.String())
		return
	}
	defer release()
	rep := Report{Started: time.Now()}
	rep.Stats, rep.Err = prune(ctx, sched.Options)
	rep.Finished = time.Now()
	s := rep.Stats
	attrs := []any{"operation", op.Prune.String(), "units", s.Units, "invocations", s.Invocations, "history", s.History, "results", s.Results,
		"exceptions", s.Exceptions, "workflow_runs", s.WorkflowRuns, "workflow_data", s.WorkflowData,
		"sub_invocations", s.SubInvocations, "kept", s.Kept, "batches", s.Batches, "took", rep.Finished.Sub(rep.Started)}
	switch {
	case rep.Err != nil && ctx.Err() == nil:
		pr.log.Warn("background prune failed", append(attrs, "err", rep.Err)...)
	case rep.Err == nil:
		pr.log.Info("background prune", attrs...)
	}
	if report != nil {
		report(rep)
	}
}
