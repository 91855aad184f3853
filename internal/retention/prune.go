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
	"slices"
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
// (state.PruneOptions.Validate). Errors are not prefixed: the store adds
// its own.
func (pr *Pruner) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	p := &pruneRun{
		eng: pr.eng, repo: pr.repo, log: pr.log, opts: opts, cutoff: state.ToMicros(time.Now().Add(-opts.OlderThan)),
		batch: cmp.Or(opts.BatchSize, state.DefaultPruneBatchSize), timeout: cmp.Or(opts.BatchTimeout, state.DefaultPruneBatchTimeout),
		seen: map[string]bool{},
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
	batch   int   // invocations per transaction; halved after a timeout
	timeout time.Duration
	seen    map[string]bool // roots examined in this run
	stats   state.PruneStats
}

func (p *pruneRun) run(ctx context.Context) error {
	for _, status := range finalStatuses {
		var cur repository.HistoryCursor
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var recs []repository.FinalRecord
			err := p.eng.Read(ctx, op.Prune, func(db *gorm.DB) (err error) {
				recs, err = p.repo.FinalRecordsPage(db, status, p.cutoff, cur, p.batch)
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
	return nil
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
		units, err = p.finishedUnits(db, fresh, &p.stats.Kept)
		return err
	})
	if err != nil || len(units) == 0 {
		return err
	}
	if p.opts.DryRun {
		return p.count(ctx, units)
	}
	for len(units) > 0 {
		if len(units[0].members) > p.batch {
			if err := p.deleteLarge(ctx, units[0]); err != nil {
				return err
			}
			units = units[1:]
			continue
		}
		n, size := 0, 0
		for n < len(units) && size+len(units[n].members) <= p.batch {
			size += len(units[n].members)
			n++
		}
		err := p.deleteUnits(ctx, units[:n])
		if p.shrink(ctx, err) {
			continue // the same units, in a smaller batch
		}
		if err != nil {
			return err
		}
		units = units[n:]
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
		ids, wfs := flatten(units)
		rows, err := p.repo.DeleteUnits(db, ids, wfs, true)
		if err != nil {
			return err
		}
		p.add(rows, int64(len(units)))
		return nil
	})
}

// deleteUnits deletes units in one transaction, after enumerating and
// checking them again.
func (p *pruneRun) deleteUnits(ctx context.Context, units []*unit) error {
	roots := make([]string, len(units))
	for i, u := range units {
		roots[i] = u.root
	}
	var rows repository.UnitRows
	var deleted, kept int64
	err := p.batchTx(ctx, func(tx *gorm.DB) error {
		kept = 0
		fresh, err := p.finishedUnits(tx, roots, &kept)
		if err != nil {
			return err
		}
		deleted = int64(len(fresh))
		ids, wfs := flatten(fresh)
		rows, err = p.repo.DeleteUnits(tx, ids, wfs, false)
		return err
	})
	if err != nil {
		return err
	}
	p.stats.Kept += kept
	p.add(rows, deleted)
	return nil
}

// deleteLarge deletes a unit with more members than a batch holds, in
// batches: the members other than the root first, checking each batch's
// members again; then, in one last transaction that enumerates and checks
// what is left of the unit, the rest with the root and the workflows'
// rows. Interrupted, it leaves the root and a finished remainder, which
// the next prune finds and finishes.
func (p *pruneRun) deleteLarge(ctx context.Context, u *unit) error {
	members := slices.DeleteFunc(slices.Clone(u.members), func(id string) bool { return slices.Contains(u.workflows, id) })
	slices.Sort(members)
	for len(members) > p.batch {
		chunk := members[:p.batch]
		var rows repository.UnitRows
		live := false
		err := p.batchTx(ctx, func(tx *gorm.DB) error {
			heads, err := p.repo.HistoryHeads(tx, chunk)
			if err != nil {
				return err
			}
			for _, id := range chunk {
				if !p.finished(heads, id) {
					live = true
					return nil
				}
			}
			rows, err = p.repo.DeleteUnits(tx, chunk, nil, false)
			return err
		})
		if p.shrink(ctx, err) {
			continue
		}
		if err != nil {
			return err
		}
		if live {
			p.log.Warn("a unit came alive while it was being pruned; the rest of it is kept", "operation", op.Prune.String(), "root", u.root)
			p.stats.Kept++
			return nil
		}
		p.add(rows, 0)
		members = members[len(chunk):]
	}
	return p.deleteUnits(ctx, []*unit{u})
}

// batchTx runs fn in one write transaction bounded by the batch timeout.
func (p *pruneRun) batchTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err := p.eng.Write(ctx, op.Prune, func(db *gorm.DB) error {
		return db.Transaction(fn)
	})
	return err
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

// flatten returns the member ids and workflow ids of units.
func flatten(units []*unit) (ids, workflows []string) {
	for _, u := range units {
		ids = append(ids, u.members...)
		ids = append(ids, u.workflows...) // results and history of ids without a row
		workflows = append(workflows, u.workflows...)
	}
	return ids, workflows
}

// finished reports whether the history of id ends in a final record older
// than the cutoff.
func (p *pruneRun) finished(heads map[string]repository.HistoryHead, id string) bool {
	h, ok := heads[id]
	return ok && h.Timestamp < p.cutoff && state.Status(h.Status).Final()
}
