package monitor

import (
	"net/http"
	"net/url"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Page sizes of the invocation listings.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// invRow is an invocation as a listing shows it.
type invRow struct {
	ID, URL           string
	Task, TaskURL     string
	Status            state.Status
	ChangedAt         string
	Runner, RunnerURL string
	// Workflow is the run the invocation belongs to, when that is not
	// the invocation itself.
	Workflow, WorkflowURL string
	WorkflowType          string
	WorkflowTypeURL       string
	Parent, ParentURL     string
}

func (l links) invRow(s state.InvocationSummary) invRow {
	row := invRow{
		ID: text(string(s.ID)), URL: l.invocation(s.ID),
		Task: taskText(s.Task), TaskURL: l.task(s.Task),
		Status: s.Status.Status, ChangedAt: formatTime(s.ChangedAt),
		Runner: text(s.RunnerContextID), RunnerURL: l.runner(s.RunnerContextID),
		WorkflowType: taskText(s.Workflow.WorkflowType), WorkflowTypeURL: l.workflowType(s.Workflow.WorkflowType),
		Parent: text(string(s.ParentInvocationID)), ParentURL: l.invocation(s.ParentInvocationID),
	}
	if w := s.Workflow.WorkflowID; w != "" {
		row.Workflow, row.WorkflowURL = text(string(w)), l.workflowRun(w)
	}
	return row
}

func (l links) invRows(page []state.InvocationSummary) []invRow {
	rows := make([]invRow, len(page))
	for i, s := range page {
		rows[i] = l.invRow(s)
	}
	return rows
}

// listForm is what the filter form of /invocations shows: the request's
// own values.
type listForm struct {
	Tasks        []string
	Statuses     []statusOption
	Workflow     string
	WorkflowType string
	Parent       string
	Runner       string
	Since        string
	Before       string
	Limit        int
}

type statusOption struct {
	Status   state.Status
	Selected bool
}

// invocationFilter reads the filter of /invocations from p. It returns
// the filter, the form to show, and the query that selects the same
// invocations on later pages: times written out absolutely, so that
// "since=1h" does not move between pages (a cursor is only valid with
// the filter it was made for).
func invocationFilter(p params, now time.Time) (state.InvocationFilter, listForm, url.Values, error) {
	var f state.InvocationFilter
	var form listForm
	var err error
	if f.Tasks, err = p.tasks("task"); err != nil {
		return f, form, nil, err
	}
	if f.Statuses, err = p.statuses("status"); err != nil {
		return f, form, nil, err
	}
	if f.WorkflowID, err = p.id("workflow"); err != nil {
		return f, form, nil, err
	}
	if f.WorkflowType, err = p.task("workflow_type"); err != nil {
		return f, form, nil, err
	}
	if f.ParentInvocationID, err = p.id("parent"); err != nil {
		return f, form, nil, err
	}
	if f.RunnerContextID, err = p.key("runner"); err != nil {
		return f, form, nil, err
	}
	if f.ChangedSince, err = p.time("since", now); err != nil {
		return f, form, nil, err
	}
	if f.ChangedBefore, err = p.time("before", now); err != nil {
		return f, form, nil, err
	}
	if !f.ChangedSince.IsZero() && !f.ChangedBefore.IsZero() && !f.ChangedSince.Before(f.ChangedBefore) {
		return f, form, nil, badRequest("Parameter \"since\" (%s) is not before \"before\" (%s).", formatTime(f.ChangedSince), formatTime(f.ChangedBefore))
	}
	if err := f.Validate(); err != nil {
		return f, form, nil, badRequest("The filter is not valid: %v.", err)
	}

	v := url.Values{}
	for _, t := range f.Tasks {
		v.Add("task", t.Key())
		form.Tasks = append(form.Tasks, t.Key())
	}
	selected := map[state.Status]bool{}
	for _, s := range f.Statuses {
		v.Add("status", string(s))
		selected[s] = true
	}
	for _, s := range state.Statuses() {
		form.Statuses = append(form.Statuses, statusOption{s, selected[s]})
	}
	set := func(name, value string, into *string) {
		if value != "" {
			v.Set(name, value)
		}
		*into = value
	}
	set("workflow", string(f.WorkflowID), &form.Workflow)
	if !f.WorkflowType.IsZero() {
		set("workflow_type", f.WorkflowType.Key(), &form.WorkflowType)
	}
	set("parent", string(f.ParentInvocationID), &form.Parent)
	set("runner", f.RunnerContextID, &form.Runner)
	form.Since, _ = p.one("since")
	form.Before, _ = p.one("before")
	if !f.ChangedSince.IsZero() {
		v.Set("since", f.ChangedSince.UTC().Format(time.RFC3339Nano))
	}
	if !f.ChangedBefore.IsZero() {
		v.Set("before", f.ChangedBefore.UTC().Format(time.RFC3339Nano))
	}
	return f, form, v, nil
}

type invocationsData struct {
	CanList  bool
	Form     listForm
	Filtered bool
	Rows     []invRow
	// Next is the link of the next page ("" on the last); First the link
	// of the first page when this is a later one.
	Next, First string
}

// invocations serves /invocations: the invocations matching the filter
// of the query, newest change first, a page at a time (keyset paging
// with the Browser's cursor, parameter "after").
func (s *server) invocations(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	f, form, v, err := invocationFilter(p, s.now())
	if err != nil {
		return err
	}
	if form.Limit, err = p.limit("limit", defaultPageSize, maxPageSize); err != nil {
		return err
	}
	after, err := p.one("after")
	if err != nil {
		return err
	}
	l := linksFor(r)
	info := pageInfo{Title: "Invocations", Nav: "invocations", Events: l.events(changeQuery(f))}
	data := invocationsData{Form: form, Filtered: len(v) > 0, CanList: s.browser != nil}
	if s.browser == nil {
		info.Events = ""
		return s.render(w, r, http.StatusNotImplemented, "invocations", info, data)
	}
	page, err := s.browser.ListInvocations(r.Context(), f, state.PageRequest{Limit: form.Limit, After: state.Cursor(after)})
	if err != nil {
		return err
	}
	data.Rows = l.invRows(page.Invocations)
	if form.Limit != defaultPageSize {
		v.Set("limit", itoa(form.Limit))
	}
	if after != "" {
		data.First = l.invocationList(v)
	}
	if page.Next != "" {
		next := cloneValues(v)
		next.Set("after", string(page.Next))
		data.Next = l.invocationList(next)
	}
	return s.ok(w, r, "invocations", info, data)
}

// changeQuery is the query of /events that follows the changes a listing
// with filter f may show: its tasks and workflow (the change feed filters
// on those; the listing's other filters select on the current status,
// which a change may leave or enter, so they are not passed on).
func changeQuery(f state.InvocationFilter) url.Values {
	v := url.Values{}
	for _, t := range f.Tasks {
		v.Add("task", t.Key())
	}
	if f.WorkflowID != "" {
		v.Set("workflow", string(f.WorkflowID))
	}
	return v
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vals := range v {
		out[k] = append([]string(nil), vals...)
	}
	return out
}
