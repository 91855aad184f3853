package statebackend

import (
	"cmp"
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// The GORM backend's retention. Finding work to delete costs in
// proportion to what a batch deletes, whatever the size of the tables:
//
//   - candidates are the final history records older than the cutoff,
//     read along the (status, timestamp, id) index from a cursor, one
//     final status after the other; records of live work are never read;
//   - each candidate leads to its unit's root through the invocation row
//     (its workflow and that workflow's parent) and, for sub-workflows,
//     the parents' rows, one indexed lookup per level;
//   - a unit's members are found from its root down, along the
//     parent_workflow_id and workflow_id indexes, and each member's last
//     record along the (invocation, timestamp, status) index.
//
// A prune looks only at records with an id up to the mark, the highest
// history id when it starts: records written after that (an import, a
// copy, a writer with a skewed clock adding old final records) are the
// next prune's, so a prune ends however fast they arrive.
//
// Each batch runs in one transaction that enumerates and checks its units
// again before deleting, and deletes at most a batch of their members,
// bottom-up (see unit.plan): a unit larger than a batch is deleted over
// several, every workflow's own rows after everything under it, the root
// last. The candidate scan and the queue of units found finished are the
// only state kept between batches. Units kept because part of them is
// live are examined once per prune, and counted once at its end.

// maxWorkflowDepth bounds the nesting of sub-workflows a prune follows; a
// deeper (or cyclic) tree is kept whole.
const maxWorkflowDepth = 64

// pruneOp names Prune in errors, logs and retries.
const pruneOp = "Prune"

// finalStatuses are the statuses that end an invocation.
var finalStatuses = func() []string {
	var out []string
	for _, s := range state.Statuses() {
		if s.Final() {
			out = append(out, string(s))
		}
	}
	return out
}()

// Prune implements state.Pruner.
func (b *gormBackend) Prune(ctx context.Context, opts PruneOptions) (_ PruneStats, err error) {
	ctx, c := b.tel.start(ctx, opPrune)
	defer c.end(&err)
	if err := opts.Validate(); err != nil {
		return PruneStats{}, err
	}
	if err := b.check(ctx); err != nil {
		return PruneStats{}, b.fail(ctx, pruneOp, err)
	}
	p := &pruneRun{
		b: b, opts: opts, cutoff: state.ToMicros(time.Now().Add(-opts.OlderThan)),
		batch: cmp.Or(opts.BatchSize, state.DefaultPruneBatchSize), timeout: cmp.Or(opts.BatchTimeout, state.DefaultPruneBatchTimeout),
		seen: map[string]bool{}, pruned: map[string]bool{}, partial: map[string]bool{},
	}
	err = p.run(ctx)
	if !opts.DryRun {
		c.pruned(prunedPerTable(p.stats, b.repo.Tables))
	}
	if err != nil {
		return p.stats, p.failed(ctx, err)
	}
	return p.stats, nil
}

// prunedPerTable returns the rows s counts as deleted, by table name.
func prunedPerTable(s PruneStats, t entities.Tables) map[string]int64 {
	return map[string]int64{
		t.Name("Invocation"): s.Invocations, t.Name("History"): s.History, t.Name("Result"): s.Results,
		t.Name("Exception"): s.Exceptions, t.Name("Workflow"): s.WorkflowRuns, t.Name("WorkflowData"): s.WorkflowData,
		t.Name("WorkflowSubInvocation"): s.SubInvocations,
	}
}

// pruneRun is one call of Prune.
type pruneRun struct {
	b       *gormBackend
	opts    PruneOptions
	cutoff  int64 // microseconds; records at or after it are recent
	mark    int64 // the highest history id when the prune started
	batch   int   // invocations per transaction; halved after a timeout
	timeout time.Duration
	seen    map[string]bool // roots examined in this run
	pruned  map[string]bool // roots deleted whole (or, in a dry run, counted) in this run
	partial map[string]bool // roots of units this run deleted part of
	stats   PruneStats
}

// failed returns err as Prune returns it, with the prefix
// "statebackend: Prune:" once: the errors of the backend's reads and
// writes have it already, a bare context error (from a check between
// batches, or before a read or write starts) does not.
func (p *pruneRun) failed(ctx context.Context, err error) error {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return p.b.fail(ctx, pruneOp, err)
	}
	return err
}

func (p *pruneRun) run(ctx context.Context) error {
	err := p.b.read(ctx, pruneOp, func(db *gorm.DB) (err error) {
		p.mark, err = p.b.repo.HistoryMark(db)
		return err
	})
	if err != nil {
		return err
	}
	for _, status := range finalStatuses {
		var cur repository.HistoryCursor
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var recs []repository.RecordRef
			err := p.b.read(ctx, pruneOp, func(db *gorm.DB) (err error) {
				recs, err = p.b.repo.FinalRecordsPage(db, status, p.cutoff, p.mark, cur, p.batch)
				return err
			})
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				break
			}
			last := recs[len(recs)-1]
			cur = repository.HistoryCursor{Timestamp: last.Timestamp, ID: entities.Serial(last.ID), Started: true}
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.InvocationID
			}
			if err := p.prune(ctx, ids); err != nil {
				return err
			}
			if len(recs) < p.batch {
				break
			}
		}
	}
	return p.countKept(ctx)
}

// prune deletes the finished units of the candidates ids.
func (p *pruneRun) prune(ctx context.Context, ids []string) error {
	var units []*unit
	err := p.b.read(ctx, pruneOp, func(db *gorm.DB) error {
		roots, err := p.rootsOf(db, ids)
		if err != nil {
			return err
		}
		var fresh []string
		for _, r := range roots {
			if !p.seen[r] {
				p.seen[r] = true
				fresh = append(fresh, r)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		units, _, err = p.finishedUnits(db, fresh)
		return err
	})
	if err != nil || len(units) == 0 {
		return err
	}
	if p.opts.DryRun {
		return p.count(ctx, units)
	}
	for len(units) > 0 {
		// The units that fit in a batch as they were found, at least one:
		// the batch enumerates them again and deletes what fits.
		n, size := 1, units[0].size()
		for n < len(units) && size+units[n].size() <= p.batch {
			size += units[n].size()
			n++
		}
		done, err := p.deleteBatch(ctx, units[:n])
		if p.shrink(ctx, err) {
			continue // the same units, in a smaller batch
		}
		if err != nil {
			return err
		}
		units = units[done:]
	}
	return nil
}

// shrink reports whether err is a batch that ran out of its time while the
// prune's context is alive; it then halves the batch size.
func (p *pruneRun) shrink(ctx context.Context, err error) bool {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || p.batch == 1 {
		return false
	}
	p.batch = max(1, p.batch/2)
	p.b.log.Warn("prune batch timed out, retrying smaller", "operation", pruneOp, "timeout", p.timeout, "batch_size", p.batch)
	return true
}

// count adds what deleting units would delete to the stats, for a dry
// run, one batch at a time.
func (p *pruneRun) count(ctx context.Context, units []*unit) error {
	return p.b.read(ctx, pruneOp, func(db *gorm.DB) error {
		var steps []step
		for _, u := range units {
			steps = append(steps, u.plan()...)
			p.pruned[u.root] = true
		}
		ids, wfs := split(steps)
		rows, err := p.b.repo.DeleteUnits(db, ids, wfs, true)
		if err != nil {
			return err
		}
		p.add(rows, int64(len(units)))
		return nil
	})
}

// deleteBatch deletes, in one transaction, at most a batch of the members
// of units, in order, after enumerating and checking them again: every
// unit still finished whole, then the first steps of the plan of the
// next one (see unit.plan). It returns how many of units it is done with:
// deleted whole, found live, or gone.
func (p *pruneRun) deleteBatch(ctx context.Context, units []*unit) (done int, err error) {
	roots := make([]string, len(units))
	for i, u := range units {
		roots[i] = u.root
	}
	var rows repository.UnitRows
	var whole, live []string
	var partial string
	err = p.batchTx(ctx, func(tx *gorm.DB) error {
		done, whole, partial = 0, nil, ""
		fresh, alive, err := p.finishedUnits(tx, roots)
		if err != nil {
			return err
		}
		live = alive
		byRoot := make(map[string]*unit, len(fresh))
		for _, u := range fresh {
			byRoot[u.root] = u
		}
		var take []step
		budget := p.batch
		for _, r := range roots {
			u := byRoot[r]
			if u == nil { // live, or gone (deleted by another prune)
				done++
				continue
			}
			plan := u.plan()
			n := cut(plan, &budget)
			take = append(take, plan[:n]...)
			if n < len(plan) {
				partial = r
				break
			}
			whole = append(whole, r)
			done++
			if budget == 0 {
				break
			}
		}
		ids, wfs := split(take)
		rows, err = p.b.repo.DeleteUnits(tx, ids, wfs, false)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, r := range live {
		if p.partial[r] {
			p.b.log.Warn("a unit came alive while it was being pruned; the rest of it is kept", "operation", pruneOp, "root", r)
		}
	}
	if partial != "" {
		p.partial[partial] = true
	}
	for _, r := range whole {
		p.pruned[r] = true
	}
	p.add(rows, int64(len(whole)))
	return done, nil
}

// batchTx runs fn in one write transaction bounded by the batch timeout.
func (p *pruneRun) batchTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.b.write(ctx, pruneOp, func(db *gorm.DB) error {
		return db.Transaction(fn)
	})
}

// add adds one batch's deleted rows and units to the stats and reports
// progress.
func (p *pruneRun) add(rows repository.UnitRows, units int64) {
	p.stats = p.stats.Add(PruneStats{
		Units: units, Invocations: rows.Invocations, History: rows.History, Results: rows.Results,
		Exceptions: rows.Exceptions, WorkflowRuns: rows.WorkflowRuns, WorkflowData: rows.WorkflowData,
		SubInvocations: rows.SubInvocations, Batches: 1,
	})
	if p.opts.Progress != nil {
		p.opts.Progress(p.stats)
	}
}

// countKept sets the stats' Kept: the units with a record older than the
// cutoff, up to the mark, that the prune did not delete. After the
// batches, what is left of the old history is theirs, so it reads that,
// along the time index, and finds each record's unit.
func (p *pruneRun) countKept(ctx context.Context) error {
	kept := map[string]bool{}
	const page = 1000
	var cur repository.HistoryCursor
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var recs []repository.RecordRef
		var roots []string
		err := p.b.read(ctx, pruneOp, func(db *gorm.DB) (err error) {
			recs, err = p.b.repo.OldRecordsPage(db, p.cutoff, p.mark, cur, page)
			if err != nil || len(recs) == 0 {
				return err
			}
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.InvocationID
			}
			roots, err = p.rootsOf(db, ids)
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range roots {
			if !p.pruned[r] {
				kept[r] = true
			}
		}
		if len(recs) < page {
			break
		}
		last := recs[len(recs)-1]
		cur = repository.HistoryCursor{Timestamp: last.Timestamp, ID: entities.Serial(last.ID), Started: true}
	}
	p.stats.Kept = int64(len(kept))
	return nil
}

// finished reports whether the history of id ends in a final record older
// than the cutoff.
func (p *pruneRun) finished(heads map[string]repository.HistoryHead, id string) bool {
	h, ok := heads[id]
	return ok && h.Timestamp < p.cutoff && state.Status(h.Status).Final()
}

var _ Pruner = (*gormBackend)(nil)
