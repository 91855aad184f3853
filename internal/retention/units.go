package retention

import (
	"maps"
	"slices"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/repository"
)

// How a prune finds units: from a candidate up to its root, and from a
// root down to every member, through indexed lookups only.

// unit is a top-level workflow run (or a lone id) with what is under it.
type unit struct {
	root      string
	workflows []string            // the root and every sub-workflow under it
	members   []string            // invocation rows in those workflows, and workflow ids with history but no row
	parent    map[string]string   // workflow -> the workflow it is under ("" for the root)
	in        map[string][]string // workflow -> its members (its own id too, when a member)
}

// size is the number of members of u: what it counts against a batch.
func (u *unit) size() int { return len(u.members) }

// step is one step of a unit's deletion.
type step struct {
	id       string // whose invocation row, history, result and exception go
	workflow string // whose run, data and sub-invocation set go too; "" for none
	counts   bool   // id is a member: the step counts against a batch
}

// plan returns the steps that delete u, bottom-up: each workflow's
// sub-workflows first (each whole, by the same rule), then its other
// members, then its own id and rows. So a unit cut short after any step
// keeps its root and, above every member left, the rows that lead to the
// root (the starter invocations, the runs), and the next prune finds what
// is left from any of its members' final records, up to the same root; and
// since what is left is part of a finished unit, it is finished too.
// A workflow's own step counts only when its id is a member; one that
// does not count goes in the batch of the step before it, so that no
// batch leaves a workflow's rows behind without members to find them by.
func (u *unit) plan() []step {
	children := map[string][]string{}
	for _, wf := range u.workflows {
		if wf != u.root {
			children[u.parent[wf]] = append(children[u.parent[wf]], wf)
		}
	}
	var out []step
	var visit func(wf string)
	visit = func(wf string) {
		subs := children[wf]
		slices.Sort(subs)
		for _, sub := range subs {
			visit(sub)
		}
		self := false
		for _, id := range slices.Sorted(slices.Values(u.in[wf])) {
			if id == wf {
				self = true
			} else {
				out = append(out, step{id: id, counts: true})
			}
		}
		out = append(out, step{id: wf, workflow: wf, counts: self})
	}
	visit(u.root)
	return out
}

// cut returns how many of steps fit in *budget members, taking them from
// it: a step that does not count goes with the one before it.
func cut(steps []step, budget *int) int {
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

// split returns the ids and the workflows of steps.
func split(steps []step) (ids, workflows []string) {
	for _, s := range steps {
		ids = append(ids, s.id) // also a workflow id without a row: its results and history
		if s.workflow != "" {
			workflows = append(workflows, s.workflow)
		}
	}
	return ids, workflows
}

// rootsOf returns the roots of the units of ids, each once: for an
// invocation, the top-level workflow above its workflow; for an id never
// stored as an invocation, the id.
func (p *pruneRun) rootsOf(db *gorm.DB, ids []string) ([]string, error) {
	links, err := p.repo.InvocationLinks(db, ids)
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
			p.log.Warn("workflows nested deeper than the prune follows are kept", "operation", op.Prune.String(), "depth", maxWorkflowDepth)
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
	starters, err := p.repo.InvocationLinks(db, wfs)
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
		runs, err := p.repo.WorkflowLinks(db, rest)
		if err != nil {
			return nil, err
		}
		for _, l := range runs {
			out[l.ID] = l.ParentWorkflowID
		}
	}
	rest = slices.DeleteFunc(rest, func(w string) bool { _, ok := out[w]; return ok })
	if len(rest) > 0 {
		members, err := p.repo.InvocationsInWorkflows(db, rest)
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
// returns, in the order of roots, those that are finished and old, and the
// roots of those that are not. A root that turns out not to be top-level
// (its run or invocation names a parent) is skipped: its own root's unit
// covers it; so is a root with nothing left under it.
func (p *pruneRun) finishedUnits(db *gorm.DB, roots []string) (finished []*unit, live []string, err error) {
	units := make(map[string]*unit, len(roots))
	rootOf := map[string]string{} // workflow -> root
	for _, r := range roots {
		units[r] = &unit{root: r, workflows: []string{r}, parent: map[string]string{r: ""}, in: map[string][]string{}}
		rootOf[r] = r
	}
	parents, err := p.parentsOf(db, roots)
	if err != nil {
		return nil, nil, err
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
					live = append(live, u.root)
				}
			}
			break
		}
		invs, err := p.repo.InvocationsUnderWorkflows(db, frontier)
		if err != nil {
			return nil, nil, err
		}
		runs, err := p.repo.WorkflowsUnder(db, frontier)
		if err != nil {
			return nil, nil, err
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
				u.parent[l.WorkflowID] = l.ParentWorkflowID
			}
			next = append(next, l.WorkflowID)
		}
		frontier = next
	}
	members, err := p.repo.InvocationsInWorkflows(db, keys(rootOf))
	if err != nil {
		return nil, nil, err
	}
	hasRow := map[string]bool{}
	for _, l := range members {
		if u := units[rootOf[l.WorkflowID]]; u != nil {
			u.members = append(u.members, l.ID)
			u.in[l.WorkflowID] = append(u.in[l.WorkflowID], l.ID)
			hasRow[l.ID] = true
		}
	}
	var check []string
	for _, u := range units {
		check = append(check, u.members...)
		check = append(check, u.workflows...)
	}
	heads, err := p.repo.HistoryHeads(db, check)
	if err != nil {
		return nil, nil, err
	}
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
				u.in[wf] = append(u.in[wf], wf)
			}
		}
		switch {
		case len(u.members) == 0: // nothing left of it
		case !ok:
			live = append(live, r)
		default:
			slices.Sort(u.members)
			finished = append(finished, u)
		}
	}
	return finished, live, nil
}

// keys returns the keys of m, in no particular order.
func keys[V any](m map[string]V) []string {
	return slices.Collect(maps.Keys(m))
}
