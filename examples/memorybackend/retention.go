package memorybackend

import (
	"context"
	"slices"
	"time"

	"github.com/taskstate/statebackend/state"
)

var _ state.Pruner = (*Backend)(nil)

// maxDepth bounds the nesting of workflows followed to a root; deeper (or
// cyclic) trees are kept.
const maxDepth = 64

// Prune implements state.Pruner. Being in memory, it looks at the whole app
// under the store's write lock and deletes every finished unit at once; it
// still reports one batch per BatchSize invocations, as a database backend
// would commit them. A database backend cannot afford to look at
// everything: see the statebackend package for one that finds its work
// through indexes.
func (b *Backend) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	if err := opts.Validate(); err != nil {
		return state.PruneStats{}, err
	}
	if err := b.check(ctx); err != nil {
		return state.PruneStats{}, err
	}
	cutoff := state.ToMicros(time.Now().Add(-opts.OlderThan))
	batch := opts.BatchSize
	if batch == 0 {
		batch = state.DefaultPruneBatchSize
	}
	var stats state.PruneStats
	var reports []state.PruneStats
	b.write(func(a *app) {
		units := a.units()
		roots := make([]state.InvocationID, 0, len(units))
		for r := range units {
			roots = append(roots, r)
		}
		slices.Sort(roots)
		inBatch := 0
		for _, r := range roots {
			u := units[r]
			if !a.finished(u, cutoff) {
				stats.Kept++
				continue
			}
			stats = stats.Add(a.rowsOf(u))
			stats.Units++
			if !opts.DryRun {
				a.delete(u)
			}
			inBatch += len(u.ids)
			if inBatch >= batch {
				stats.Batches++
				reports = append(reports, stats)
				inBatch = 0
			}
		}
		if inBatch > 0 {
			stats.Batches++
			reports = append(reports, stats)
		}
	})
	if opts.Progress != nil {
		for _, s := range reports { // outside the lock: the callback may call back
			opts.Progress(s)
		}
	}
	return stats, nil
}

// pruneUnit is a top-level workflow run with everything under it, or an id
// with history but no invocation.
type pruneUnit struct {
	ids       []state.InvocationID // invocations, and ids with history but no invocation
	workflows []state.InvocationID
}

// units groups the app's invocations, workflows and history by the root
// of their unit.
func (a *app) units() map[state.InvocationID]*pruneUnit {
	units := map[state.InvocationID]*pruneUnit{}
	get := func(root state.InvocationID) *pruneUnit {
		u := units[root]
		if u == nil {
			u = &pruneUnit{}
			units[root] = u
		}
		return u
	}
	workflows := map[state.InvocationID]bool{}
	for id, inv := range a.invocations {
		if root, ok := a.rootOf(inv.Workflow.WorkflowID); ok {
			get(root).ids = append(get(root).ids, id)
		}
		workflows[inv.Workflow.WorkflowID] = true
	}
	for wf := range a.workflows {
		workflows[wf] = true
	}
	for wf := range workflows {
		if root, ok := a.rootOf(wf); ok {
			get(root).workflows = append(get(root).workflows, wf)
		}
	}
	for id := range a.history.byInvocation {
		if _, ok := a.invocations[id]; ok {
			continue
		}
		root := id
		if _, isWorkflow := workflows[id]; isWorkflow {
			root, _ = a.rootOf(id)
		}
		if u := get(root); !slices.Contains(u.ids, id) {
			u.ids = append(u.ids, id)
		}
	}
	return units
}

// rootOf returns the top-level workflow above wf (wf itself when it has no
// parent); false for a tree deeper than maxDepth.
func (a *app) rootOf(wf state.InvocationID) (state.InvocationID, bool) {
	for range maxDepth {
		parent := a.parentOf(wf)
		if parent == "" {
			return wf, true
		}
		wf = parent
	}
	return "", false
}

// parentOf returns the parent of workflow wf: as the invocation that
// started it says, else its run, else any invocation in it.
func (a *app) parentOf(wf state.InvocationID) state.InvocationID {
	if inv, ok := a.invocations[wf]; ok && inv.Workflow.WorkflowID == wf {
		return inv.Workflow.ParentWorkflowID
	}
	if run, ok := a.workflows[wf]; ok {
		return run.ParentWorkflowID
	}
	for _, inv := range a.invocations {
		if inv.Workflow.WorkflowID == wf {
			return inv.Workflow.ParentWorkflowID
		}
	}
	return ""
}

// finished reports whether every id of u ends its history with a final
// record older than cutoff.
func (a *app) finished(u *pruneUnit, cutoff int64) bool {
	if len(u.ids) == 0 {
		return false
	}
	for _, id := range u.ids {
		rows := a.history.byInvocation[id]
		if len(rows) == 0 {
			return false
		}
		last := rows[len(rows)-1]
		if last.micros >= cutoff || !last.rec.StatusRecord.Status.Final() {
			return false
		}
	}
	return true
}

// rowsOf counts the rows of u, as a database would delete them.
func (a *app) rowsOf(u *pruneUnit) state.PruneStats {
	var s state.PruneStats
	for _, id := range u.ids {
		if _, ok := a.invocations[id]; ok {
			s.Invocations++
		}
		s.History += int64(len(a.history.byInvocation[id]))
		if _, ok := a.results[id]; ok {
			s.Results++
		}
		if _, ok := a.exceptions[id]; ok {
			s.Exceptions++
		}
	}
	for _, wf := range u.workflows {
		if _, ok := a.workflows[wf]; ok {
			s.WorkflowRuns++
		}
		for k := range a.data {
			if k.workflowID == wf {
				s.WorkflowData++
			}
		}
		s.SubInvocations += int64(len(a.subInvs[wf]))
	}
	return s
}

// delete removes every row of u.
func (a *app) delete(u *pruneUnit) {
	for _, id := range u.ids {
		delete(a.invocations, id)
		delete(a.results, id)
		delete(a.exceptions, id)
		a.history.remove(id)
	}
	for _, wf := range u.workflows {
		delete(a.workflows, wf)
		delete(a.subInvs, wf)
		for k := range a.data {
			if k.workflowID == wf {
				delete(a.data, k)
			}
		}
	}
}

// remove deletes the records of id.
func (t *historyTable) remove(id state.InvocationID) {
	rows := t.byInvocation[id]
	if len(rows) == 0 {
		return
	}
	for _, row := range rows {
		delete(t.byKey, historyKey{id, row.micros, row.rec.StatusRecord.Status})
	}
	delete(t.byInvocation, id)
	t.byTime = slices.DeleteFunc(t.byTime, func(row *historyRow) bool { return row.rec.InvocationID == id })
}
