package monitor

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/taskstate/statebackend/state"
)

type runnerRow struct {
	ID, URL           string
	Class             string
	Host              string
	PID, Thread       string
	Parent, ParentURL string
}

func (l links) runnerRow(rc *state.RunnerContext) runnerRow {
	row := runnerRow{
		ID: text(rc.RunnerID), URL: l.runner(rc.RunnerID), Class: text(rc.RunnerCls), Host: text(rc.Hostname),
		PID: strconv.Itoa(rc.PID), Thread: strconv.FormatInt(rc.ThreadID, 10),
	}
	if rc.Parent != nil {
		row.Parent, row.ParentURL = text(rc.Parent.RunnerID), l.runner(rc.Parent.RunnerID)
	}
	return row
}

type runnersData struct {
	Query       string
	Rows        []runnerRow
	Next, First string
}

// runners serves /runners: the runner contexts whose id contains the
// query's "q" (all of them without it), by id, a page at a time
// (parameter "after", a runner id).
func (s *server) runners(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	q, err := p.key("q")
	if err != nil {
		return err
	}
	limit, after, err := p.listPage()
	if err != nil {
		return err
	}
	all, err := s.b.MatchRunnerContexts(r.Context(), q)
	if err != nil {
		return err
	}
	l := linksFor(r)
	pg := pageOf(all, func(rc state.RunnerContext) string { return rc.RunnerID }, after, limit)
	d := runnersData{Query: q}
	for i := range pg.items {
		d.Rows = append(d.Rows, l.runnerRow(&pg.items[i]))
	}
	var v url.Values
	if q != "" {
		v = url.Values{"q": {q}}
	}
	d.Next, d.First = pg.links(l, "runners", limit, v)
	return s.ok(w, r, "runners", pageInfo{Title: "Runners", Nav: "runners"}, d)
}

type runnerData struct {
	ID             string
	Chain          []runnerRow
	CanList        bool
	Rows           []invRow
	Next, First    string
	InvocationsURL string
}

// runner serves /runners/{id}: a runner context, its parent chain, and
// the invocations whose current status it wrote, a page at a time.
func (s *server) runner(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := state.ValidateRequiredKey("id", id); err != nil {
		return badRequest("%q is not a runner id: %v.", text(id), err)
	}
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	limit, err := p.limit("limit", defaultPageSize, maxPageSize)
	if err != nil {
		return err
	}
	after, err := p.one("after")
	if err != nil {
		return err
	}
	l := linksFor(r)
	rc, err := s.b.RunnerContext(r.Context(), id)
	if errors.Is(err, state.ErrNotFound) {
		return notFound("No runner context %q is stored.", text(id))
	}
	if err != nil {
		return err
	}
	d := runnerData{ID: text(id), CanList: s.browser != nil,
		InvocationsURL: l.invocationList(url.Values{"runner": {id}})}
	for _, c := range rc.Chain() {
		d.Chain = append(d.Chain, l.runnerRow(c))
	}
	if s.browser != nil {
		page, err := s.browser.ListInvocations(r.Context(), state.InvocationFilter{RunnerContextID: id},
			state.PageRequest{Limit: limit, After: state.Cursor(after)})
		if err != nil {
			return err
		}
		d.Rows = l.invRows(page.Invocations)
		v := url.Values{}
		if limit != defaultPageSize {
			v.Set("limit", itoa(limit))
		}
		path := "runners/" + segment(id)
		if after != "" {
			d.First = l.to(path, v)
		}
		if page.Next != "" {
			v.Set("after", string(page.Next))
			d.Next = l.to(path, v)
		}
	}
	return s.ok(w, r, "runner", pageInfo{Title: "Runner " + d.ID, Nav: "runners"}, d)
}
