// Package retention deletes a store's finished work: one prune at a
// caller's request (Pruner.Prune), or a background pruner that prunes at an
// interval while it holds the database's pruning lock (Pruner.Start). It
// owns how units of work are found, checked and deleted in batches, and
// the lease that stands in for a lock on databases without one; it runs
// its statements through the store's engine and repository.
package retention

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/engine"
	"github.com/taskstate/statebackend/internal/op"
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
// Each batch runs in one transaction that enumerates and checks its units
// again before deleting them, so a unit that came alive since it was
// examined is kept. The candidate scan is the only state kept between
// batches. Units kept because part of them is live are examined once per
// prune.

// maxWorkflowDepth bounds the nesting of sub-workflows a prune follows; a
// deeper (or cyclic) tree is kept whole.
const maxWorkflowDepth = 64

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

// Config is what a Pruner works with.
type Config struct {
	Engine *engine.Engine
	Repo   repository.Repo
	// TryLock is the database's try-lock (dialect.Dialect.TryLock); nil
	// uses a lease in the app's leases table.
	TryLock func(ctx context.Context, db *gorm.DB, name string) (release func(), ok bool, err error)
	Log     *slog.Logger
}

// Pruner prunes one store's finished work.
type Pruner struct {
	eng     *engine.Engine
	repo    repository.Repo
	tryLock func(ctx context.Context, db *gorm.DB, name string) (release func(), ok bool, err error)
	log     *slog.Logger
	// holder names this pruner as the holder of leases.
	holder string
}

// New returns the pruner of cfg.
func New(cfg Config) *Pruner {
	return &Pruner{eng: cfg.Engine, repo: cfg.Repo, tryLock: cfg.TryLock, log: cfg.Log, holder: holderID()}
}

// Prune deletes the finished work opts selects; opts must be valid
// (state.PruneOptions.Validate). The errors of its reads and writes come
// from the engine, prefixed with the operation; a context that ends
// between them is returned bare, for the caller to prefix.
func (pr *Pruner) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	p := &pruneRun{
		eng: pr.eng, repo: pr.repo, log: pr.log, opts: opts, cutoff: state.ToMicros(time.Now().Add(-opts.OlderThan)),
		batch: cmp.Or(opts.BatchSize, state.DefaultPruneBatchSize), timeout: cmp.Or(opts.BatchTimeout, state.DefaultPruneBatchTimeout),
		seen: map[string]bool{}, pruned: map[string]bool{}, partial: map[string]bool{},
	}
	err := p.run(ctx)
	return p.stats, err
}

// PrunedPerTable returns the rows s counts as deleted, by table name.
func PrunedPerTable(s state.PruneStats, t entities.Tables) map[string]int64 {
	return map[string]int64{
		t.Name("Invocation"): s.Invocations, t.Name("History"): s.History, t.Name("Result"): s.Results,
		t.Name("Exception"): s.Exceptions, t.Name("Workflow"): s.WorkflowRuns, t.Name("WorkflowData"): s.WorkflowData,
		t.Name("WorkflowSubInvocation"): s.SubInvocations,
	}
}

// pruneRun is one call of Prune.
type pruneRun struct {
	eng     *engine.Engine
	repo    repository.Repo
	log     *slog.Logger
	opts    state.PruneOptions
	cutoff  int64 // microseconds; records at or after it are recent
	mark    int64 // the highest history id when the prune started
	batch   int   // invocations per transaction; halved after a timeout
	timeout time.Duration
	seen    map[string]bool // roots examined in this run
	pruned  map[string]bool // roots deleted whole (or, in a dry run, counted) in this run
	partial map[string]bool // roots of units this run deleted part of
	stats   state.PruneStats
}

func (p *pruneRun) run(ctx context.Context) error {
	err := p.eng.Read(ctx, op.Prune, func(db *gorm.DB) (err error) {
		p.mark, err = p.repo.HistoryMark(db)
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
			err := p.eng.Read(ctx, op.Prune, func(db *gorm.DB) (err error) {
				recs, err = p.repo.FinalRecordsPage(db, status, p.cutoff, p.mark, cur, p.batch)
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
	err := p.eng.Read(ctx, op.Prune, func(db *gorm.DB) error {
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
	p.log.Warn("prune batch timed out, retrying smaller", "operation", op.Prune.String(), "timeout", p.timeout, "batch_size", p.batch)
	return true
}

// count adds what deleting units would delete to the stats, for a dry
// run, one batch at a time.
func (p *pruneRun) count(ctx context.Context, units []*unit) error {
	return p.eng.Read(ctx, op.Prune, func(db *gorm.DB) error {
		var steps []step
		for _, u := range units {
			steps = append(steps, u.plan()...)
			p.pruned[u.root] = true
		}
		ids, wfs := split(steps)
		rows, err := p.repo.DeleteUnits(db, ids, wfs, true)
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
		rows, err = p.repo.DeleteUnits(tx, ids, wfs, false)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, r := range live {
		if p.partial[r] {
			p.log.Warn("a unit came alive while it was being pruned; the rest of it is kept", "operation", op.Prune.String(), "root", r)
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
	return p.eng.Write(ctx, op.Prune, func(db *gorm.DB) error {
		return db.Transaction(fn)
	})
}

// add adds one batch's deleted rows and units to the stats and reports
// progress.
func (p *pruneRun) add(rows repository.UnitRows, units int64) {
	p.stats = p.stats.Add(state.PruneStats{
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
		err := p.eng.Read(ctx, op.Prune, func(db *gorm.DB) (err error) {
			recs, err = p.repo.OldRecordsPage(db, p.cutoff, p.mark, cur, page)
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
