package monitor

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/taskstate/statebackend/state"
)

// Bounds of the workflow pages.
const (
	defaultListSize = 100
	maxListSize     = 500
	// maxMembersShown bounds the invocations and sub-invocations a
	// workflow run's page shows of each list.
	maxMembersShown = 50
)

type typeRow struct {
	Type, URL, InvocationsURL string
}

type workflowsData struct {
	Rows        []typeRow
	Next, First string
}

// workflowTypes serves /workflows: the workflow types with a stored run,
// by key, a page at a time (parameter "after", a type key).
func (s *server) workflowTypes(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	limit, after, err := p.listPage()
	if err != nil {
		return err
	}
	types, err := s.b.WorkflowTypes(r.Context())
	if err != nil {
		return err
	}
	l := linksFor(r)
	pg := pageOf(types, func(t state.TaskID) string { return t.Key() }, after, limit)
	d := workflowsData{}
	for _, t := range pg.items {
		d.Rows = append(d.Rows, typeRow{Type: taskText(t), URL: l.workflowType(t),
			InvocationsURL: l.invocationList(url.Values{"workflow_type": {t.Key()}})})
	}
	d.Next, d.First = pg.links(l, "workflows", limit)
	return s.ok(w, r, "workflows", pageInfo{Title: "Workflows", Nav: "workflows"}, d)
}

// keyPage is one page of a list the backend returns whole, in ascending
// key order: the items after a key, so that pages stay put while items
// are added.
type keyPage[T any] struct {
	items     []T
	after     string
	nextAfter string
}

func pageOf[T any](all []T, key func(T) string, after string, limit int) keyPage[T] {
	// The backend's order may follow the database's collation; pages go
	// by byte order, which the cursor compares with.
	sorted := slices.SortedStableFunc(slices.Values(all), func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	i := 0
	if after != "" {
		i, _ = slices.BinarySearchFunc(sorted, after, func(x T, a string) int { return cmp.Compare(key(x), a) })
		for i < len(sorted) && key(sorted[i]) <= after {
			i++
		}
	}
	pg := keyPage[T]{after: after}
	end := min(len(sorted), i+limit)
	pg.items = sorted[i:end]
	if end < len(sorted) && end > i {
		pg.nextAfter = key(sorted[end-1])
	}
	return pg
}

// links returns the links of the next page and, on a later page, of the
// first, at path with extra query v.
func (pg keyPage[T]) links(l links, path string, limit int, v ...url.Values) (next, first string) {
	q := url.Values{}
	if len(v) > 0 {
		q = cloneValues(v[0])
	}
	if limit != defaultListSize {
		q.Set("limit", itoa(limit))
	}
	if pg.after != "" {
		first = l.to(path, q)
	}
	if pg.nextAfter != "" {
		q.Set("after", pg.nextAfter)
		next = l.to(path, q)
	}
	return next, first
}

type runRow struct {
	ID, URL           string
	Parent, ParentURL string
	InvocationsURL    string
}

type workflowTypeData struct {
	Type           string
	InvocationsURL string
	Rows           []runRow
	Next, First    string
}

// workflowType serves /workflows/{type}: the runs of a workflow type, by
// id, a page at a time (parameter "after", a workflow id).
func (s *server) workflowType(w http.ResponseWriter, r *http.Request) error {
	typ, err := state.ParseTaskID(r.PathValue("type"))
	if err != nil {
		return badRequest("%q is not a workflow type (a task key, module.function): %v.", text(r.PathValue("type")), err)
	}
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	limit, after, err := p.listPage()
	if err != nil {
		return err
	}
	runs, err := s.b.WorkflowRunsOfType(r.Context(), typ)
	if err != nil {
		return err
	}
	l := linksFor(r)
	pg := pageOf(runs, func(w state.WorkflowIdentity) string { return string(w.WorkflowID) }, after, limit)
	d := workflowTypeData{Type: taskText(typ), InvocationsURL: l.invocationList(url.Values{"workflow_type": {typ.Key()}})}
	for _, run := range pg.items {
		d.Rows = append(d.Rows, runRow{
			ID: text(string(run.WorkflowID)), URL: l.workflowRun(run.WorkflowID),
			Parent: text(string(run.ParentWorkflowID)), ParentURL: l.workflowRun(run.ParentWorkflowID),
			InvocationsURL: l.invocationList(url.Values{"workflow": {string(run.WorkflowID)}}),
		})
	}
	d.Next, d.First = pg.links(l, "workflows/"+segment(typ.Key()), limit)
	return s.ok(w, r, "workflow_type", pageInfo{Title: "Workflow type " + d.Type, Nav: "workflows"}, d)
}

type memberRow struct {
	ID, URL       string
	Task, TaskURL string
	// Run links the sub-workflow the invocation starts, if it does.
	Run string
}

type workflowRunData struct {
	ID                string
	InvocationURL     string
	Type, TypeURL     string
	Parent, ParentURL string
	InvocationsURL    string
	CanList           bool
	Listed            []invRow
	Members           []memberRow
	// MemberCount is the number of the run's invocations, as text ("more
	// than 1,000" when it is large); MembersCut says the list shows only
	// some of them.
	MemberCount        string
	MembersCut         bool
	SubInvocations     []memberRow
	SubInvocationsMore int
	DataKey            string
	DataValue          *shown
	DataMissing        bool
}

// workflowRun serves /workflow-runs/{id}: a run, its invocations and
// sub-invocations (the first maxMembersShown of each, with a link to the
// paginated listing), and, since the state interface reads workflow data
// by key and cannot list the keys, the value of the key the query names
// (parameter "key").
func (s *server) workflowRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := state.InvocationID(r.PathValue("id"))
	if err := id.Validate("id"); err != nil {
		return badRequest("%q is not a workflow id: %v.", text(string(id)), err)
	}
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	key, err := p.one("key")
	if err != nil {
		return err
	}
	if err := state.ValidateKey("key", key); err != nil {
		return badRequest("Parameter \"key\": %v.", err)
	}
	l := linksFor(r)

	d := workflowRunData{
		ID: text(string(id)), InvocationURL: l.invocation(id),
		InvocationsURL: l.invocationList(url.Values{"workflow": {string(id)}}),
		CanList:        s.browser != nil, DataKey: key,
	}
	// The run's identity is that of the invocation that started it, or
	// else of any of its invocations.
	var ident state.WorkflowIdentity
	found, anyMember := false, false
	identify := func(probe state.InvocationID) error {
		inv, err := s.b.Invocation(ctx, probe)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err == nil && inv.Workflow.WorkflowID == id {
			ident, found = inv.Workflow, true
		}
		return err
	}
	if err := identify(id); err != nil {
		return err
	}
	if s.browser != nil {
		// A page of the run's invocations, and their count when there are
		// more: never every id of a large run.
		f := state.InvocationFilter{WorkflowID: id}
		page, err := s.browser.ListInvocations(ctx, f, state.PageRequest{Limit: maxMembersShown})
		if err != nil {
			return err
		}
		d.Listed = l.invRows(page.Invocations)
		d.MemberCount, anyMember = formatCount(int64(len(page.Invocations))), len(page.Invocations) > 0
		if page.Next != "" {
			total, exact, err := s.total(ctx, f)
			if err != nil {
				return err
			}
			d.MemberCount, d.MembersCut = countText(total, exact), true
		}
		if !found && len(page.Invocations) > 0 {
			ident, found = page.Invocations[0].Workflow, true
		}
	} else {
		// The contract lists the run's ids whole.
		members, err := s.b.InvocationIDsByWorkflow(ctx, state.WorkflowFilter{WorkflowID: id})
		if err != nil {
			return err
		}
		d.MemberCount, d.MembersCut = formatCount(int64(len(members))), len(members) > maxMembersShown
		anyMember = len(members) > 0
		if !found && len(members) > 0 {
			if err := identify(members[0]); err != nil {
				return err
			}
		}
		if d.Members, err = s.memberRows(ctx, l, id, members[:min(len(members), maxMembersShown)]); err != nil {
			return err
		}
	}
	subs, err := s.b.WorkflowSubInvocations(ctx, id)
	if err != nil {
		return err
	}
	if !found && !anyMember && len(subs) == 0 {
		return notFound("No workflow run %q: no invocation runs in it and it has no sub-invocation.", text(string(id)))
	}
	d.Type, d.TypeURL = taskText(ident.WorkflowType), l.workflowType(ident.WorkflowType)
	d.Parent, d.ParentURL = text(string(ident.ParentWorkflowID)), l.workflowRun(ident.ParentWorkflowID)
	d.SubInvocationsMore = max(0, len(subs)-maxMembersShown)
	if d.SubInvocations, err = s.memberRows(ctx, l, id, subs[:min(len(subs), maxMembersShown)]); err != nil {
		return err
	}
	if key != "" {
		v, err := s.b.WorkflowData(ctx, id, key)
		switch {
		case errors.Is(err, state.ErrNotFound):
			d.DataMissing = true
		case err != nil:
			return err
		default:
			shown := show(v)
			d.DataValue = &shown
		}
	}
	info := pageInfo{Title: "Workflow run " + d.ID, Nav: "workflows", Events: l.events(url.Values{"workflow": {string(id)}})}
	return s.ok(w, r, "workflow_run", info, d)
}

// memberRows describes ids, invocations of the run wf: their task, and
// the sub-workflow each starts.
func (s *server) memberRows(ctx context.Context, l links, wf state.InvocationID, ids []state.InvocationID) ([]memberRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	invs, err := s.b.Invocations(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := make([]memberRow, 0, len(ids))
	for _, id := range ids {
		row := memberRow{ID: text(string(id)), URL: l.invocation(id)}
		if inv, ok := invs[id]; ok {
			row.Task, row.TaskURL = taskText(inv.CallID.Task), l.task(inv.CallID.Task)
			if inv.Workflow.WorkflowID == id && inv.Workflow.WorkflowID != wf {
				row.Run = l.workflowRun(id)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
