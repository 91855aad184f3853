package statebackend

import (
	"context"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retention"
)

// Prune implements state.Pruner: it deletes the finished work older than
// opts.OlderThan, unit by unit, in batches of at most opts.BatchSize
// invocations (see the package documentation, "Retention"). It fails with
// ErrInvalidArgument, deleting nothing, for invalid options.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (_ PruneStats, err error) {
	c := s.begin(ctx, op.Prune)
	defer c.end(&err)
	if err := opts.Validate(); err != nil {
		return PruneStats{}, err
	}
	if err := c.check(); err != nil {
		return PruneStats{}, s.eng.Fail(c.ctx, op.Prune, err)
	}
	stats, err := s.pruner.Prune(c.ctx, opts)
	if !opts.DryRun {
		c.tel.Pruned(retention.PrunedPerTable(stats, s.repo.Tables))
	}
	if err == context.Canceled || err == context.DeadlineExceeded {
		// A context that ended between batches: the errors of the
		// pruner's reads and writes have the prefix already.
		err = s.eng.Fail(c.ctx, op.Prune, err)
	}
	return stats, err
}
