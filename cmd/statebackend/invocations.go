package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend/state"
)

// invocationsFlags are the flags of the invocations command as given.
type invocationsFlags struct {
	tasks, statuses                        []string
	workflow, workflowType, parent, runner string
	since, before                          string
	limit                                  int
	after                                  string
	stuck                                  string
	json                                   bool
}

// invocationsQuery is what the invocations command asks the backend.
type invocationsQuery struct {
	filter state.InvocationFilter
	page   state.PageRequest
	// stuck, when positive, asks StuckInvocations for the filter's
	// statuses instead of ListInvocations.
	stuck time.Duration
	// next rebuilds the command line that lists the page after cursor.
	next func(cursor state.Cursor) string
}

func (c *cli) invocationsCommand() *cobra.Command {
	var fl invocationsFlags
	cmd := &cobra.Command{
		Use:   "invocations",
		Short: "List invocations by current status, task, workflow, parent, runner and time",
		Long: `invocations lists the invocations of the app whose current status (the last
record of their history) matches the filters, newest change first, a page at
a time: after the page, the table gives the cursor of the next page and the
command that prints it (--after CURSOR). Filters combine: an invocation is
listed when it matches every one given; --task and --status take several
values (repeated or comma-separated) and match any of them.

--since and --before bound the time of the current status record
(since <= time < before): an ISO 8601 time (2025-01-15T12:00:00Z; no zone
means UTC), "now", or a duration before now (1h, 30m, 2d, also written -1h).

--stuck DURATION lists instead the invocations whose current status is one
of --status and has not changed for longer than DURATION, longest stuck
first: what recovery looks for (--status running --stuck 1h). It takes no
other filter.

With --json (or -o json) it writes JSON lines: one object per invocation,
then {"next_cursor": ...}, null on the last page.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := c.invocationsQuery(cmd, fl, time.Now().UTC())
			if err != nil {
				return err
			}
			return c.invocations(cmd.Context(), q, fl.json || c.output == "json")
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&fl.tasks, "task", nil, "only invocations of this task (a task key: module.function); repeat or comma-separate for several")
	f.StringArrayVar(&fl.statuses, "status", nil, "only invocations whose current status is this; repeat or comma-separate for several")
	f.StringVar(&fl.workflow, "workflow", "", "only invocations that run in this workflow run (its id)")
	f.StringVar(&fl.workflowType, "workflow-type", "", "only invocations that run in a workflow of this type (a task key)")
	f.StringVar(&fl.parent, "parent", "", "only the invocations this invocation called")
	f.StringVar(&fl.runner, "runner", "", "only invocations whose current status was written by this runner context")
	f.StringVar(&fl.since, "since", "", "only invocations whose status changed at or after this time (ISO 8601, or a duration before now: 1h, 2d)")
	f.StringVar(&fl.before, "before", "", "only invocations whose status changed before this time (ISO 8601, or a duration before now)")
	f.IntVar(&fl.limit, "limit", state.DefaultPageSize, "invocations per page (at most "+strconv.Itoa(state.MaxPageSize)+")")
	f.StringVar(&fl.after, "after", "", "the cursor of the page to print, given after the previous page")
	f.StringVar(&fl.stuck, "stuck", "", "list the invocations in a --status for longer than this duration (30m, 1h, 2d)")
	f.BoolVar(&fl.json, "json", false, "write JSON lines (as -o json does)")
	return cmd
}

// invocationsQuery checks the flags and builds the query; now resolves the
// times given as durations.
func (c *cli) invocationsQuery(cmd *cobra.Command, fl invocationsFlags, now time.Time) (invocationsQuery, error) {
	var q invocationsQuery
	f := &q.filter
	for _, key := range splitValues(fl.tasks) {
		t, err := state.ParseTaskID(key)
		if err != nil {
			return q, usageErrorf("--task %q: a task key is module.function, such as reports.build", key)
		}
		f.Tasks = append(f.Tasks, t)
	}
	for _, s := range splitValues(fl.statuses) {
		st := state.Status(strings.ToLower(s))
		if !st.Valid() {
			return q, usageErrorf("--status %q: not a status; use one of %s", s, statusNames())
		}
		f.Statuses = append(f.Statuses, st)
	}
	if cmd.Flag("workflow").Changed {
		if err := state.InvocationID(fl.workflow).Validate("--workflow"); err != nil {
			return q, usageErrorf("--workflow %q: give a workflow id (the id of the invocation that started it)", fl.workflow)
		}
		f.WorkflowID = state.InvocationID(fl.workflow)
	}
	if cmd.Flag("workflow-type").Changed {
		t, err := state.ParseTaskID(fl.workflowType)
		if err != nil {
			return q, usageErrorf("--workflow-type %q: a workflow type is a task key, module.function", fl.workflowType)
		}
		f.WorkflowType = t
	}
	if cmd.Flag("parent").Changed {
		if err := state.InvocationID(fl.parent).Validate("--parent"); err != nil {
			return q, usageErrorf("--parent %q: give an invocation id", fl.parent)
		}
		f.ParentInvocationID = state.InvocationID(fl.parent)
	}
	if cmd.Flag("runner").Changed {
		if fl.runner == "" || state.ValidateKey("--runner", fl.runner) != nil {
			return q, usageErrorf("--runner %q: give a runner context id", fl.runner)
		}
		f.RunnerContextID = fl.runner
	}
	var err error
	if f.ChangedSince, err = parseAgo("--since", fl.since, now); err != nil {
		return q, err
	}
	if f.ChangedBefore, err = parseAgo("--before", fl.before, now); err != nil {
		return q, err
	}
	if !f.ChangedSince.IsZero() && !f.ChangedBefore.IsZero() && !f.ChangedSince.Before(f.ChangedBefore) {
		return q, usageErrorf("--since %s is not before --before %s", state.FormatTimestamp(f.ChangedSince), state.FormatTimestamp(f.ChangedBefore))
	}
	if err := f.Validate(); err != nil {
		return q, usageErrorf("%v", strings.TrimPrefix(err.Error(), "statebackend: "))
	}
	if fl.limit < 1 || fl.limit > state.MaxPageSize {
		return q, usageErrorf("--limit %d: give a page size from 1 to %d", fl.limit, state.MaxPageSize)
	}
	q.page = state.PageRequest{Limit: fl.limit, After: state.Cursor(fl.after)}
	if err := q.page.Validate(); err != nil {
		return q, usageErrorf("--after: not a cursor of this command (%d bytes, at most 1024): copy it from the line after the previous page", len(fl.after))
	}
	if cmd.Flag("stuck").Changed {
		if q.stuck, err = parseDuration("--stuck", fl.stuck); err != nil {
			return q, err
		}
		if len(f.Statuses) == 0 {
			return q, usageErrorf("--stuck needs --status: the statuses an invocation is stuck in, such as --status running")
		}
		var others []string
		for _, name := range []string{"task", "workflow", "workflow-type", "parent", "runner", "since", "before"} {
			if cmd.Flag(name).Changed {
				others = append(others, "--"+name)
			}
		}
		if len(others) > 0 {
			return q, usageErrorf("--stuck takes only --status, --limit and --after, not %s", strings.Join(others, ", "))
		}
	}
	q.next = c.nextPageCommand(cmd, q, fl)
	return q, nil
}

// splitValues splits the values of a repeatable flag on commas, dropping
// empty ones and surrounding spaces.
func splitValues(vals []string) []string {
	var out []string
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// statusNames lists the statuses for messages.
func statusNames() string {
	var names []string
	for _, s := range state.Statuses() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// parseAgo reads a --since or --before value: an ISO 8601 time, "now", or
// a duration before now, with or without a leading "-" ("1h", "-2d").
// Empty gives the zero time (no bound).
func parseAgo(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if s == "now" {
		return now, nil
	}
	d, problem := durationValue(strings.TrimPrefix(s, "-"))
	switch problem {
	case "":
		return now.Add(-d), nil
	case badDuration:
	default:
		return time.Time{}, usageErrorf("%s %q: %s", flag, s, problem)
	}
	t, err := state.ParseTimestamp(s)
	if err != nil {
		return time.Time{}, usageErrorf("%s %q: give an ISO 8601 time (2025-01-15T12:00:00Z), \"now\" or a duration before now such as 1h, 30m or 2d (%s)", flag, s, durationHelp)
	}
	return t, nil
}

// nextPageCommand returns what rebuilds the command line of q for the page
// after a cursor: the database as given (from --db, its password masked;
// nothing when it came from STATEBACKEND_DB), the app, and the filters as
// resolved, times given as durations included, so that every page reads
// the same filter the cursor belongs to.
func (c *cli) nextPageCommand(cmd *cobra.Command, q invocationsQuery, fl invocationsFlags) func(state.Cursor) string {
	return func(cursor state.Cursor) string {
		args := []string{"statebackend"}
		if c.dbFrom == "--db" {
			u, err := c.dbURL()
			if err == nil {
				args = append(args, "--db", u.shown)
			}
		}
		if cmd.Flag("app").Changed {
			args = append(args, "--app", c.appID)
		}
		args = append(args, "invocations")
		f := q.filter
		if len(f.Tasks) > 0 {
			keys := make([]string, len(f.Tasks))
			for i, t := range f.Tasks {
				keys[i] = t.Key()
			}
			args = append(args, "--task", strings.Join(keys, ","))
		}
		if len(f.Statuses) > 0 {
			names := make([]string, len(f.Statuses))
			for i, s := range f.Statuses {
				names[i] = string(s)
			}
			args = append(args, "--status", strings.Join(names, ","))
		}
		for _, p := range []struct{ flag, value string }{
			{"--workflow", string(f.WorkflowID)}, {"--workflow-type", taskKey(f.WorkflowType)},
			{"--parent", string(f.ParentInvocationID)}, {"--runner", f.RunnerContextID},
			{"--since", timeArg(f.ChangedSince)}, {"--before", timeArg(f.ChangedBefore)},
		} {
			if p.value != "" {
				args = append(args, p.flag, p.value)
			}
		}
		if q.stuck > 0 {
			args = append(args, "--stuck", fl.stuck)
		}
		if fl.limit != state.DefaultPageSize {
			args = append(args, "--limit", strconv.Itoa(fl.limit))
		}
		args = append(args, "--after", string(cursor))
		for i, a := range args {
			args[i] = shellQuote(a)
		}
		return strings.Join(args, " ")
	}
}

func timeArg(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return state.FormatTimestamp(t)
}

// taskKey is a task's key, or "" for the zero task (an invocation known
// from its history only).
func taskKey(t state.TaskID) string {
	if t.IsZero() {
		return ""
	}
	return t.Key()
}

// shellSafe matches the words a POSIX shell reads as they are.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// listedInvocation is one invocation as the invocations command prints it.
type listedInvocation struct {
	ID                 string `json:"invocation_id"`
	Task               string `json:"task"`
	Status             string `json:"status"`
	ChangedAt          string `json:"changed_at"`
	RunnerContextID    string `json:"runner_context_id"`
	OwnerRunnerID      string `json:"owner_runner_id"`
	ParentInvocationID string `json:"parent_invocation_id"`
	WorkflowID         string `json:"workflow_id"`
	WorkflowType       string `json:"workflow_type"`
	ParentWorkflowID   string `json:"parent_workflow_id"`
}

// nextCursorLine is the last JSON line: the cursor of the next page, null
// on the last one.
type nextCursorLine struct {
	NextCursor *string `json:"next_cursor"`
}

func (c *cli) invocations(ctx context.Context, q invocationsQuery, asJSON bool) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	cn, err := c.open(ctx, u, c.appID, readExisting)
	if err != nil {
		return err
	}
	defer cn.Close()
	br := cn.backend
	if ok, err := hasStatusTable(ctx, cn.db, cn.tables); err != nil {
		return fmt.Errorf("list the tables of %s: %w", u.shown, err)
	} else if !ok {
		return fmt.Errorf("%s in %s cannot be listed by status: %w", appName(c.appID), u.shown, errNoStatusTable)
	}
	var page state.InvocationPage
	if q.stuck > 0 {
		page, err = br.StuckInvocations(ctx, q.filter.Statuses, q.stuck, q.page)
	} else {
		page, err = br.ListInvocations(ctx, q.filter, q.page)
	}
	if err != nil {
		if errors.Is(err, state.ErrInvalidArgument) && q.page.After != "" {
			return usageErrorf("--after %q: %v; give the cursor printed after the previous page, with the same filters", q.page.After,
				strings.TrimPrefix(err.Error(), "statebackend: "))
		}
		if errors.Is(err, state.ErrInvalidArgument) {
			return usageErrorf("%v", strings.TrimPrefix(err.Error(), "statebackend: "))
		}
		return fmt.Errorf("list the invocations of %s in %s: %w", appName(c.appID), u.shown, err)
	}
	rows := make([]listedInvocation, len(page.Invocations))
	for i, s := range page.Invocations {
		rows[i] = listedInvocation{
			ID: string(s.ID), Task: taskKey(s.Task), Status: string(s.Status.Status),
			ChangedAt: state.FormatTimestamp(s.ChangedAt), RunnerContextID: s.RunnerContextID,
			OwnerRunnerID: s.Status.RunnerID, ParentInvocationID: string(s.ParentInvocationID),
			WorkflowID: string(s.Workflow.WorkflowID), WorkflowType: taskKey(s.Workflow.WorkflowType),
			ParentWorkflowID: string(s.Workflow.ParentWorkflowID),
		}
	}
	if asJSON {
		return writeInvocationLines(c.stdout, rows, page.Next)
	}
	if len(rows) == 0 {
		if q.page.After != "" {
			fmt.Fprintln(c.stdout, "no more invocations match")
		} else {
			fmt.Fprintln(c.stdout, "no invocations match")
		}
		return nil
	}
	t := newTable(c.stdout, "INVOCATION", "TASK", "STATUS", "CHANGED AT", "RUNNER")
	for _, r := range rows {
		t.row(r.ID, orDash(r.Task), r.Status, r.ChangedAt, orDash(r.RunnerContextID))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(c.stdout, "\nnext cursor: %s\nnext page:   %s\n", page.Next, q.next(page.Next))
	}
	return nil
}

// writeInvocationLines writes one JSON line per invocation, then the next
// cursor's.
func writeInvocationLines(w io.Writer, rows []listedInvocation, next state.Cursor) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	var last nextCursorLine
	if next != "" {
		s := string(next)
		last.NextCursor = &s
	}
	return enc.Encode(last)
}
