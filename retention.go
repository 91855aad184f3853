package statebackend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// Prune implements state.Pruner.
func (b *gormBackend) Prune(ctx context.Context, opts PruneOptions) (PruneStats, error) {
	if err := opts.Validate(); err != nil {
		return PruneStats{}, err
	}
	if err := b.check(ctx); err != nil {
		return PruneStats{}, err
	}
	p := &pruneRun{
		b: b, opts: opts, cutoff: state.ToMicros(time.Now().Add(-opts.OlderThan)),
		batch: cmpOr(opts.BatchSize, state.DefaultPruneBatchSize), timeout: cmpOr(opts.BatchTimeout, state.DefaultPruneBatchTimeout),
		seen: map[string]bool{},
	}
	err := p.run(ctx)
	if err != nil {
		return p.stats, fmt.Errorf("statebackend: Prune: %w", err)
	}
	return p.stats, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// pruneRun is one call of Prune.
type pruneRun struct {
	b       *gormBackend
	opts    PruneOptions
	cutoff  int64 // microseconds; records at or after it are recent
	batch   int   // invocations per transaction; halved after a timeout
	timeout time.Duration
	seen    map[string]bool // roots examined in this run
	stats   PruneStats
}

// unit is a top-level workflow run (or a lone id) with what is under it.
type unit struct {
	root      string
	workflows []string // the root and every sub-workflow under it
	members   []string // invocation rows in those workflows, and workflow ids with history but no row
}

func (p *pruneRun) run(ctx context.Context) error {
	for _, status := range finalStatuses {
		var cur repository.HistoryCursor
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var recs []repository.FinalRecord
			err := p.b.read(ctx, "Prune", func(db *gorm.DB) (err error) {
				recs, err = p.b.repo.FinalRecordsPage(db, status, p.cutoff, cur, p.batch)
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
	err := p.b.read(ctx, "Prune", func(db *gorm.DB) error {
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
	p.b.log.Warn("prune batch timed out, retrying smaller", "timeout", p.timeout, "batch_size", p.batch)
	return true
}

// count adds what deleting units would delete to the stats, for a dry
// run, one batch at a time.
func (p *pruneRun) count(ctx context.Context, units []*unit) error {
	return p.b.read(ctx, "Prune", func(db *gorm.DB) error {
		ids, wfs := flatten(units)
		rows, err := p.b.repo.DeleteUnits(db, ids, wfs, true)
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
		rows, err = p.b.repo.DeleteUnits(tx, ids, wfs, false)
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
			heads, err := p.b.repo.HistoryHeads(tx, chunk)
			if err != nil {
				return err
			}
			for _, id := range chunk {
				if !p.finished(heads, id) {
					live = true
					return nil
				}
			}
			rows, err = p.b.repo.DeleteUnits(tx, chunk, nil, false)
			return err
		})
		if p.shrink(ctx, err) {
			continue
		}
		if err != nil {
			return err
		}
		if live {
			p.b.log.Warn("a unit came alive while it was being pruned; the rest of it is kept", "root", u.root)
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
	err := p.b.write(ctx, "Prune", func(db *gorm.DB) error {
		return db.Transaction(fn)
	})
	return err
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

// rootsOf returns the roots of the units of ids, each once: for an
// invocation, the top-level workflow above its workflow; for an id never
// stored as an invocation, the id.
func (p *pruneRun) rootsOf(db *gorm.DB, ids []string) ([]string, error) {
	links, err := p.b.repo.InvocationLinks(db, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]repository.Link, len(links))
	for _, l := range links {
		byID[l.ID] = l
	}
	roots := map[string]bool{}
	pending := map[string]bool{} // workflows whose parent's root is needed
	for _, id := range ids {
		l, ok := byID[id]
		switch {
		case !ok:
			roots[id] = true
		case l.ParentWorkflowID == "":
			roots[l.WorkflowID] = true
		default:
			pending[l.ParentWorkflowID] = true
		}
	}
	for depth := 0; len(pending) > 0; depth++ {
		if depth > maxWorkflowDepth {
			p.b.log.Warn("workflows nested deeper than the prune follows are kept", "depth", maxWorkflowDepth)
			break
		}
		parents, err := p.parentsOf(db, keys(pending))
		if err != nil {
			return nil, err
		}
		next := map[string]bool{}
		for wf, parent := range parents {
			if parent == "" {
				roots[wf] = true
			} else {
				next[parent] = true
			}
		}
		pending = next
	}
	out := keys(roots)
	slices.Sort(out)
	return out, nil
}

// parentsOf returns the parent ("" for none) of each workflow in wfs: from
// the row of the invocation that started it, else its workflow run, else
// any invocation in it.
func (p *pruneRun) parentsOf(db *gorm.DB, wfs []string) (map[string]string, error) {
	out := map[string]string{}
	starters, err := p.b.repo.InvocationLinks(db, wfs)
	if err != nil {
		return nil, err
	}
	for _, l := range starters {
		if l.WorkflowID == l.ID {
			out[l.ID] = l.ParentWorkflowID
		}
	}
	rest := slices.DeleteFunc(slices.Clone(wfs), func(w string) bool { _, ok := out[w]; return ok })
	if len(rest) > 0 {
		runs, err := p.b.repo.WorkflowLinks(db, rest)
		if err != nil {
			return nil, err
		}
		for _, l := range runs {
			out[l.ID] = l.ParentWorkflowID
		}
	}
	rest = slices.DeleteFunc(rest, func(w string) bool { _, ok := out[w]; return ok })
	if len(rest) > 0 {
		members, err := p.b.repo.InvocationsInWorkflows(db, rest)
		if err != nil {
			return nil, err
		}
		for _, l := range members {
			out[l.WorkflowID] = l.ParentWorkflowID
		}
	}
	for _, w := range wfs {
		if _, ok := out[w]; !ok {
			out[w] = ""
		}
	}
	return out, nil
}

// finishedUnits enumerates the units of roots from the root down and
// returns those that are finished and old, counting the others in kept.
// A root that turns out not to be top-level (its run or invocation names
// a parent) is skipped: its own root's unit covers it.
func (p *pruneRun) finishedUnits(db *gorm.DB, roots []string, kept *int64) ([]*unit, error) {
	units := make(map[string]*unit, len(roots))
	rootOf := map[string]string{} // workflow -> root
	for _, r := range roots {
		units[r] = &unit{root: r, workflows: []string{r}}
		rootOf[r] = r
	}
	parents, err := p.parentsOf(db, roots)
	if err != nil {
		return nil, err
	}
	for r, parent := range parents {
		if parent != "" {
			delete(units, r)
			delete(rootOf, r)
		}
	}
	frontier := keys(rootOf)
	for depth := 0; len(frontier) > 0; depth++ {
		if depth > maxWorkflowDepth {
			for _, wf := range frontier {
				if u := units[rootOf[wf]]; u != nil {
					delete(units, u.root)
					*kept++
				}
			}
			break
		}
		invs, err := p.b.repo.InvocationsUnderWorkflows(db, frontier)
		if err != nil {
			return nil, err
		}
		runs, err := p.b.repo.WorkflowsUnder(db, frontier)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, l := range append(invs, runs...) {
			if _, ok := rootOf[l.WorkflowID]; ok {
				continue
			}
			root := rootOf[l.ParentWorkflowID]
			rootOf[l.WorkflowID] = root
			if u := units[root]; u != nil {
				u.workflows = append(u.workflows, l.WorkflowID)
			}
			next = append(next, l.WorkflowID)
		}
		frontier = next
	}
	members, err := p.b.repo.InvocationsInWorkflows(db, keys(rootOf))
	if err != nil {
		return nil, err
	}
	hasRow := map[string]bool{}
	for _, l := range members {
		if u := units[rootOf[l.WorkflowID]]; u != nil {
			u.members = append(u.members, l.ID)
			hasRow[l.ID] = true
		}
	}
	var check []string
	for _, u := range units {
		check = append(check, u.members...)
		check = append(check, u.workflows...)
	}
	heads, err := p.b.repo.HistoryHeads(db, check)
	if err != nil {
		return nil, err
	}
	var out []*unit
	for _, r := range roots {
		u := units[r]
		if u == nil {
			continue
		}
		ok := true
		for _, id := range u.members {
			ok = ok && p.finished(heads, id)
		}
		for _, wf := range u.workflows {
			if _, hasHistory := heads[wf]; hasHistory && !hasRow[wf] {
				ok = ok && p.finished(heads, wf)
				u.members = append(u.members, wf)
			}
		}
		if len(u.members) == 0 {
			continue // nothing left of it
		}
		if !ok {
			*kept++
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// keys returns the keys of m, in no particular order.
func keys[V any](m map[string]V) []string {
	return slices.Collect(maps.Keys(m))
}

var _ Pruner = (*gormBackend)(nil)
