package monitor

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Bounds of the invocation page.
const (
	// maxHistoryShown bounds the history records shown: the first and
	// the last half of it when there are more.
	maxHistoryShown = 200
	// maxAncestors bounds the parents walked up.
	maxAncestors = 10
	// treeDepth, treeWidth and treeNodes bound the family tree below the
	// invocation: generations, children shown per invocation, and
	// invocations in all.
	treeDepth = 3
	treeWidth = 10
	treeNodes = 40
)

type histRow struct {
	Time   string
	Status state.Status
	// Duration is the time to the next record; for the last record of an
	// invocation that has not ended, the time so far (Ongoing).
	Duration string
	Ongoing  bool
	// Runner is the runner context that wrote the record.
	Runner, RunnerURL string
	// Owner is the status record's runner, when it is another one.
	Owner                         string
	RegisteredBy, RegisteredByURL string
}

// treeNode is an invocation of the family tree.
type treeNode struct {
	ID, URL string
	Task    string
	Status  state.Status
	Self    bool
	id      state.InvocationID
	// Children are the first children; More says how many are not shown
	// ("12 more", "more than 1,000 in all"), all listed at MoreURL.
	Children []treeNode
	More     string
	MoreURL  string
}

type invocationData struct {
	ID      string
	Stored  bool
	Task    string
	TaskURL string
	ArgsID  string
	// Status is the current status: the last history record's.
	Status state.Status

	Workflow, WorkflowURL               string
	WorkflowType, WorkflowTypeURL       string
	ParentWorkflow, ParentWorkflowURL   string
	StartsWorkflow                      bool
	Arguments                           []field
	History                             []histRow
	HistoryHidden                       int
	Result                              *shown
	Exception                           *shown
	ExceptionFields                     []field
	Ancestors                           []treeNode
	AncestorsMore                       bool
	Tree                                treeNode
	ChildrenListed                      bool
	TreeWidth, TreeDepth                int
	InvocationsOfRunURL, ChildrenAllURL string
}

// invocation serves /invocations/{id}: the invocation's history with the
// time each status lasted, its arguments, result and exception, and its
// family (parents up, children down, bounded).
func (s *server) invocation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := state.InvocationID(r.PathValue("id"))
	if err := id.Validate("id"); err != nil {
		return badRequest("%q is not an invocation id: %v.", id, err)
	}
	l := linksFor(r)
	inv, err := s.b.Invocation(ctx, id)
	stored := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	history, err := s.b.History(ctx, id)
	if err != nil {
		return err
	}
	if !stored && len(history) == 0 {
		return notFound("No invocation %q: it is not stored and has no history.", text(string(id)))
	}

	d := invocationData{ID: text(string(id)), Stored: stored, ChildrenAllURL: l.invocationList(url.Values{"parent": {string(id)}})}
	if stored {
		d.Task, d.TaskURL = taskText(inv.CallID.Task), l.task(inv.CallID.Task)
		d.ArgsID = text(inv.CallID.ArgsID)
		wf := inv.Workflow
		d.Workflow, d.WorkflowURL = text(string(wf.WorkflowID)), l.workflowRun(wf.WorkflowID)
		d.WorkflowType, d.WorkflowTypeURL = taskText(wf.WorkflowType), l.workflowType(wf.WorkflowType)
		d.ParentWorkflow, d.ParentWorkflowURL = text(string(wf.ParentWorkflowID)), l.workflowRun(wf.ParentWorkflowID)
		d.StartsWorkflow = wf.WorkflowID == id
		d.InvocationsOfRunURL = l.invocationList(url.Values{"workflow": {string(wf.WorkflowID)}})
		names := make([]string, 0, len(inv.Arguments))
		for k := range inv.Arguments {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			d.Arguments = append(d.Arguments, field{Name: text(k), Value: show([]byte(inv.Arguments[k]))})
		}
	}
	if n := len(history); n > 0 {
		d.Status = history[n-1].StatusRecord.Status
	}
	d.History, d.HistoryHidden = historyRows(l, history, s.now())

	if res, err := s.b.Result(ctx, id); err == nil {
		v := show(res)
		d.Result = &v
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if exc, err := s.b.Exception(ctx, id); err == nil {
		v := show(exc)
		d.Exception = &v
		d.ExceptionFields = exceptionFields(exc)
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}

	if stored {
		if d.Ancestors, d.AncestorsMore, err = s.ancestors(ctx, l, inv.ParentInvocationID); err != nil {
			return err
		}
	}
	d.Tree = treeNode{id: id, ID: d.ID, URL: l.invocation(id), Task: d.Task, Status: d.Status, Self: true}
	if err := s.family(ctx, l, &d.Tree); err != nil {
		return err
	}
	d.ChildrenListed = s.browser != nil
	d.TreeWidth, d.TreeDepth = treeWidth, treeDepth

	// The page follows the changes of its workflow run: the invocation's
	// own, and its children's in the same run.
	ev := url.Values{"invocation": {string(id)}}
	if stored {
		ev = url.Values{"workflow": {string(inv.Workflow.WorkflowID)}}
	}
	info := pageInfo{Title: "Invocation " + d.ID, Nav: "invocations", Events: l.events(ev)}
	return s.ok(w, r, "invocation", info, d)
}

// historyRows shows history, the time to the next record as each
// record's duration. Of a long history it keeps the first and the last
// records, and returns how many it left out.
func historyRows(l links, history []state.InvocationHistory, now time.Time) ([]histRow, int) {
	rows := make([]histRow, 0, min(len(history), maxHistoryShown))
	hidden := 0
	for i, h := range history {
		if len(history) > maxHistoryShown && i >= maxHistoryShown/2 && i < len(history)-maxHistoryShown/2 {
			hidden++
			continue
		}
		row := histRow{
			Time: formatTime(h.Timestamp), Status: h.StatusRecord.Status,
			Runner: text(h.RunnerContextID), RunnerURL: l.runner(h.RunnerContextID),
			RegisteredBy: text(string(h.RegisteredByInvID)), RegisteredByURL: l.invocation(h.RegisteredByInvID),
		}
		if o := h.StatusRecord.RunnerID; o != "" && o != h.RunnerContextID {
			row.Owner = text(o)
		}
		switch {
		case i+1 < len(history):
			row.Duration = formatDuration(history[i+1].Timestamp.Sub(h.Timestamp))
		case !h.StatusRecord.Status.Final():
			row.Duration, row.Ongoing = formatDuration(now.Sub(h.Timestamp)), true
		}
		rows = append(rows, row)
	}
	return rows, hidden
}

// ancestors walks up from parent, at most maxAncestors invocations,
// and returns them root first; more is true when the walk stopped at the
// bound.
func (s *server) ancestors(ctx context.Context, l links, parent state.InvocationID) (_ []treeNode, more bool, _ error) {
	var chain []treeNode
	seen := map[state.InvocationID]bool{}
	for parent != "" && !seen[parent] {
		if len(chain) == maxAncestors {
			more = true
			break
		}
		seen[parent] = true
		node := treeNode{ID: text(string(parent)), URL: l.invocation(parent)}
		inv, err := s.b.Invocation(ctx, parent)
		switch {
		case errors.Is(err, state.ErrNotFound):
			chain = append(chain, node)
			parent = ""
			continue
		case err != nil:
			return nil, false, err
		}
		node.Task = taskText(inv.CallID.Task)
		chain = append(chain, node)
		parent = inv.ParentInvocationID
	}
	slices.Reverse(chain)
	return chain, more, nil
}

// family fills the tree below root, generation by generation (so that
// the bound cuts the deepest first): at most treeWidth children per
// invocation, treeDepth generations and treeNodes invocations in all.
func (s *server) family(ctx context.Context, l links, root *treeNode) error {
	budget := treeNodes
	level := []*treeNode{root}
	for range treeDepth {
		var next []*treeNode
		for _, n := range level {
			if budget <= 0 {
				break
			}
			if err := s.children(ctx, l, n, min(treeWidth, budget)); err != nil {
				return err
			}
			budget -= len(n.Children)
			for i := range n.Children {
				next = append(next, &n.Children[i])
			}
		}
		level = next
	}
	return nil
}

// children fills n's first width children, and counts the others. With
// a Browser they are the latest to change, with their status, and the
// others are counted only when there are some; without, the first by
// id, with their task only.
func (s *server) children(ctx context.Context, l links, n *treeNode, width int) error {
	if s.browser != nil {
		f := state.InvocationFilter{ParentInvocationID: n.id}
		page, err := s.browser.ListInvocations(ctx, f, state.PageRequest{Limit: width})
		if err != nil {
			return err
		}
		for _, c := range page.Invocations {
			n.Children = append(n.Children, treeNode{id: c.ID, ID: text(string(c.ID)), URL: l.invocation(c.ID), Task: taskText(c.Task), Status: c.Status.Status})
		}
		if page.Next != "" {
			total, exact, err := s.total(ctx, f)
			if err != nil {
				return err
			}
			n.More = moreText(total, exact, len(n.Children))
		}
	} else {
		all, err := s.b.ChildInvocations(ctx, n.id)
		if err != nil {
			return err
		}
		shown := all[:min(width, len(all))]
		invs, err := s.b.Invocations(ctx, shown)
		if err != nil {
			return err
		}
		for _, c := range shown {
			n.Children = append(n.Children, treeNode{id: c, ID: text(string(c)), URL: l.invocation(c), Task: taskText(invs[c].CallID.Task)})
		}
		n.More = moreText(int64(len(all)), true, len(shown))
	}
	if n.More != "" {
		n.MoreURL = l.invocationList(url.Values{"parent": {string(n.id)}})
	}
	return nil
}
