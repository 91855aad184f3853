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

// Prune implements state.Pruner, keeping the promises a database backend
// keeps, the simple way:
//
//   - Unless it is a dry run, it first deletes the changes (the Watcher's
//     log) committed before the cutoff, whatever they are about.
//   - It notes the mark, the insertion sequence of the last history record,
//     and the units that have a final record older than the cutoff up to
//     the mark: what was prunable when it started. Records written later
//     are the next prune's, so a prune ends whatever a writer adds.
//   - Each batch takes the store's write lock, looks at those units again
//     and deletes at most BatchSize of their members, bottom-up (see plan),
//     so a unit larger than a batch goes over several, its root last. The
//     lock is released between batches, and Progress called there.
//   - At the end it counts the units it kept: those with a record older
//     than the cutoff, up to the mark, that it did not delete.
//
// Being in memory it looks at the whole app in every batch; a database
// backend cannot afford that: see the statebackend package for one that
// finds its work through indexes.
func (b *Backend) Prune(ctx context.Context, opts state.PruneOptions) (state.PruneStats, error) {
	if err := opts.Validate(); err != nil {
		return state.PruneStats{}, err
	}
	if err := b.check(ctx); err != nil {
		return state.PruneStats{}, err
	}
	cutoff := time.Now().Add(-opts.OlderThan)
	run := pruneRun{cutoff: state.ToMicros(cutoff), batch: opts.BatchSize, pruned: map[state.InvocationID]bool{}}
	if run.batch == 0 {
		run.batch = state.DefaultPruneBatchSize
	}
	if !opts.DryRun {
		// The changes committed before the cutoff go, whatever they are
		// about: a watch after a cursor older than them fails with
		// ErrCursorExpired rather than miss them.
		b.write(func(a *app) { a.changes.deleteBefore(cutoff) })
	}
	b.read(func(a *app) {
		run.mark = a.history.nextSeq
		run.queue = a.candidates(run.cutoff, run.mark)
	})
	var stats state.PruneStats
	report := func(s state.PruneStats) {
		stats = stats.Add(s)
		if opts.Progress != nil { // outside the lock: the callback may call back
			opts.Progress(stats)
		}
	}
	if opts.DryRun {
		var batches []state.PruneStats
		b.read(func(a *app) { batches = run.count(a) })
		for _, s := range batches {
			report(s)
		}
	}
	for !opts.DryRun && len(run.queue) > 0 {
		if err := b.check(ctx); err != nil {
			return stats, err
		}
		var s state.PruneStats
		b.write(func(a *app) { s = run.deleteBatch(a) })
		if s.Batches > 0 {
			report(s)
		}
	}
	b.read(func(a *app) { stats.Kept = run.kept(a) })
	return stats, nil
}

// pruneRun is one call of Prune.
type pruneRun struct {
	cutoff int64  // microseconds; records at or after it are recent
	mark   uint64 // the last insertion sequence when the prune started
	batch  int
	queue  []state.InvocationID        // roots of the units still to delete
	pruned map[state.InvocationID]bool // roots deleted (or counted) whole
}

// deleteBatch deletes, in one batch, the units at the head of the queue
// that are still finished, and then the first steps of the next, at most
// r.batch members in all, and returns what it deleted.
func (r *pruneRun) deleteBatch(a *app) state.PruneStats {
	var s state.PruneStats
	units := a.units()
	budget := r.batch
	for len(r.queue) > 0 && budget > 0 {
		root := r.queue[0]
		u := units[root]
		if u == nil || !a.finished(u, r.cutoff) {
			r.queue = r.queue[1:] // gone, or live: kept
			continue
		}
		steps := a.plan(root, u)
		n := cut(steps, &budget)
		for _, st := range steps[:n] {
			s = s.Add(a.rowsOf(st))
			a.delete(st)
		}
		s.Batches = 1
		if n < len(steps) {
			break
		}
		s.Units++
		r.pruned[root] = true
		r.queue = r.queue[1:]
	}
	return s
}

// count returns, batch by batch, what deleteBatch would delete.
func (r *pruneRun) count(a *app) []state.PruneStats {
	units := a.units()
	var out []state.PruneStats
	var s state.PruneStats
	budget := r.batch
	next := func() {
		out = append(out, s)
		s, budget = state.PruneStats{}, r.batch
	}
	for _, root := range r.queue {
		u := units[root]
		if u == nil || !a.finished(u, r.cutoff) {
			continue
		}
		r.pruned[root] = true
		for steps := a.plan(root, u); ; next() {
			n := cut(steps, &budget)
			for _, st := range steps[:n] {
				s = s.Add(a.rowsOf(st))
			}
			s.Batches = 1
			if steps = steps[n:]; len(steps) == 0 {
				s.Units++
				break
			}
		}
		if budget == 0 {
			next()
		}
	}
	if s.Batches > 0 {
		out = append(out, s)
	}
	return out
}

// cut returns how many of steps fit in *budget members, taking them from
// it: a step that does not count goes with the one before it.
func cut(steps []pruneStep, budget *int) int {
	n := 0
	for ; n < len(steps); n++ {
		if steps[n].counts {
			if *budget == 0 {
				break
			}
			*budget--
		}
	}
	return n
}

// kept returns the number of units with a record older than the cutoff, up
// to the mark, that the prune did not delete.
func (r *pruneRun) kept(a *app) int64 {
	var n int64
	for root, u := range a.units() {
		if r.pruned[root] {
			continue
		}
		if slices.ContainsFunc(u.ids, func(id state.InvocationID) bool {
			return slices.ContainsFunc(a.history.byInvocation[id], func(row *historyRow) bool {
				return row.micros < r.cutoff && row.seq <= r.mark
			})
		}) {
			n++
		}
	}
	return n
}

// candidates returns, sorted, the roots of the units with a final record
// older than cutoff whose insertion sequence is at most mark.
func (a *app) candidates(cutoff int64, mark uint64) []state.InvocationID {
	rootOf := map[state.InvocationID]state.InvocationID{}
	for root, u := range a.units() {
		for _, id := range u.ids {
			rootOf[id] = root
		}
	}
	seen := map[state.InvocationID]bool{}
	var out []state.InvocationID
	for _, row := range a.history.byTime {
		if row.micros >= cutoff {
			break
		}
		root, ok := rootOf[row.rec.InvocationID]
		if ok && row.seq <= mark && row.rec.StatusRecord.Status.Final() && !seen[root] {
			seen[root] = true
			out = append(out, root)
		}
	}
	slices.Sort(out)
	return out
}

// pruneUnit is a top-level workflow run with everything under it, or an id
// with history but no invocation.
type pruneUnit struct {
	ids       []state.InvocationID // invocations, and ids with history but no invocation
	workflows []state.InvocationID
}

// pruneStep is one step of the deletion of a unit: an id's invocation,
// history, result and exception and, for a workflow's own step, its run,
// data and sub-invocation set.
type pruneStep struct {
	id       state.InvocationID
	workflow state.InvocationID // "" for none
	counts   bool               // id is a member of the unit
}

// plan returns the steps that delete the unit u of root, bottom-up: each
// workflow's sub-workflows first (each whole, by the same rule), then its
// other members, then its own id and rows. A prune stopped between two
// steps leaves, above every member left, the rows that lead to the root,
// and what is left is still finished: the next prune finishes it.
func (a *app) plan(root state.InvocationID, u *pruneUnit) []pruneStep {
	children := map[state.InvocationID][]state.InvocationID{}
	for _, wf := range u.workflows {
		if wf != root {
			parent := a.parentOf(wf)
			children[parent] = append(children[parent], wf)
		}
	}
	in := map[state.InvocationID][]state.InvocationID{} // workflow -> members
	for _, id := range u.ids {
		wf := id // an id with history but no invocation: a workflow, or a lone id
		if inv, ok := a.invocations[id]; ok {
			wf = inv.Workflow.WorkflowID
		}
		in[wf] = append(in[wf], id)
	}
	var out []pruneStep
	var visit func(wf state.InvocationID)
	visit = func(wf state.InvocationID) {
		subs := children[wf]
		slices.Sort(subs)
		for _, sub := range subs {
			visit(sub)
		}
		self := false
		for _, id := range slices.Sorted(slices.Values(in[wf])) {
			if id == wf {
				self = true
			} else {
				out = append(out, pruneStep{id: id, counts: true})
			}
		}
		out = append(out, pruneStep{id: wf, workflow: wf, counts: self})
	}
	visit(root)
	return out
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

// rowsOf counts the rows of st, as a database would delete them.
func (a *app) rowsOf(st pruneStep) state.PruneStats {
	var s state.PruneStats
	if _, ok := a.invocations[st.id]; ok {
		s.Invocations++
	}
	s.History += int64(len(a.history.byInvocation[st.id]))
	if _, ok := a.results[st.id]; ok {
		s.Results++
	}
	if _, ok := a.exceptions[st.id]; ok {
		s.Exceptions++
	}
	if st.workflow == "" {
		return s
	}
	if _, ok := a.workflows[st.workflow]; ok {
		s.WorkflowRuns++
	}
	for k := range a.data {
		if k.workflowID == st.workflow {
			s.WorkflowData++
		}
	}
	s.SubInvocations += int64(len(a.subInvs[st.workflow]))
	return s
}

// delete removes every row of st.
func (a *app) delete(st pruneStep) {
	delete(a.invocations, st.id)
	delete(a.results, st.id)
	delete(a.exceptions, st.id)
	a.history.remove(st.id)
	if st.workflow == "" {
		return
	}
	delete(a.workflows, st.workflow)
	delete(a.subInvs, st.workflow)
	for k := range a.data {
		if k.workflowID == st.workflow {
			delete(a.data, k)
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
