package statebackend

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retention"
	"github.com/taskstate/statebackend/state"
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
	if err == nil && !opts.DryRun {
		stats.Changes, err = s.expireChanges(c, time.Now().Add(-opts.OlderThan))
	}
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

// changesPerExpiry bounds the changes one transaction of a prune deletes.
const changesPerExpiry = 5000

// expireChanges deletes the changes recorded before cutoff (by the
// database's clock), in batches, oldest first. On databases whose
// transactions commit out of id order, a batch waits for the transactions
// in flight when it read its ids to end before deleting up to them: a
// change that commits later with a smaller id is then deleted with its
// neighbours, and the expiry mark covers it, rather than appearing below
// the mark after a watcher passed it.
func (s *Store) expireChanges(c call, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var ids []int64
		var inFlight dialect.InFlight
		err := c.read(func(db *gorm.DB) (err error) {
			if ids, err = s.repo.OldChanges(db, state.ToMicros(cutoff), changesPerExpiry); err != nil || len(ids) == 0 {
				return err
			}
			if !s.commits.InIDOrder && s.commits.InFlight != nil {
				inFlight, err = s.commits.InFlight(c.ctx, db)
			}
			return err
		})
		if err != nil || len(ids) == 0 {
			return total, err
		}
		if !s.commits.InIDOrder && s.commits.Ended != nil {
			if err := s.waitEnded(c, inFlight); err != nil {
				return total, err
			}
		}
		var n int64
		err = c.write(func(db *gorm.DB) (err error) {
			n, err = s.repo.ExpireChanges(db, ids[len(ids)-1])
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if len(ids) < changesPerExpiry {
			return total, nil
		}
	}
}
