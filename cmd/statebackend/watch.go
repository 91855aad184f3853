package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// fromNow is the --from value that starts after the latest change.
const fromNow = "now"

// watchFlags are the flags of the watch command as given.
type watchFlags struct {
	from                                string
	follow                              bool
	kinds, invocations, tasks, statuses []string
	workflow                            string
	poll                                string
}

func (c *cli) watchCommand() *cobra.Command {
	var fl watchFlags
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print the changes committed to the app as JSON lines (--follow waits for new ones)",
		Long: `watch prints the changes committed to the app, oldest first, one JSON object
per line whatever --output says: each history record added, result or
exception stored, and workflow run stored for the first time. Each line has
the change's cursor, kind, invocation_id, task (omitted when the invocation
is not stored), workflow_id (omitted when empty), and for a history record
its status and timestamp.

Without --from it starts at the oldest change the database keeps; --from
CURSOR starts after the change of that cursor (give the cursor of the last
line processed: nothing is repeated or missed); --from now starts after the
latest change. Without --follow it prints what is committed and exits; with
--follow (-f) it waits for new changes until interrupted (Ctrl-C, SIGTERM),
and the interruption line gives the --from that resumes.

Filters combine (a change must match all): --kind (history, result,
exception, workflow_run), --invocation, --task and --status take several
values, repeated or comma-separated, and match any of them; --status selects
history records only.

A cursor whose changes retention has deleted (prune) fails: restart without
--from, at the oldest change kept.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := watchRequest(cmd, fl)
			if err != nil {
				return err
			}
			return c.watch(cmd.Context(), req, fl.from == fromNow)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.from, "from", "", `start after this cursor (the last line processed), or "now" after the latest change (default: the oldest change kept)`)
	f.BoolVarP(&fl.follow, "follow", "f", false, "keep waiting for new changes until interrupted")
	f.StringArrayVar(&fl.kinds, "kind", nil, "only changes of this kind: history, result, exception, workflow_run; repeat or comma-separate for several")
	f.StringArrayVar(&fl.invocations, "invocation", nil, "only changes of this invocation (or workflow run, by its id); repeat or comma-separate for several")
	f.StringArrayVar(&fl.tasks, "task", nil, "only changes of invocations of this task, and runs of this workflow type (a task key: module.function); repeat or comma-separate for several")
	f.StringVar(&fl.workflow, "workflow", "", "only changes of the invocations that run in this workflow run, and of the run itself (its id)")
	f.StringArrayVar(&fl.statuses, "status", nil, "only history records of this status; repeat or comma-separate for several")
	f.StringVar(&fl.poll, "poll", "", "how often --follow looks for new changes (default "+statebackend.DefaultPollInterval.String()+")")
	return cmd
}

// watchRequest checks the flags and builds the request; the cursor of
// --from now is left to the watch, which asks the database for it.
func watchRequest(cmd *cobra.Command, fl watchFlags) (state.WatchRequest, error) {
	req := state.WatchRequest{Follow: fl.follow}
	f := &req.Filter
	for _, k := range splitValues(fl.kinds) {
		kind := state.ChangeKind(strings.ToLower(k))
		if !kind.Valid() {
			return req, usageErrorf("--kind %q: not a kind of change; use one of history, result, exception, workflow_run", k)
		}
		if !slices.Contains(f.Kinds, kind) {
			f.Kinds = append(f.Kinds, kind)
		}
	}
	for _, id := range splitValues(fl.invocations) {
		if err := state.InvocationID(id).Validate("--invocation"); err != nil {
			problem := strings.TrimPrefix(err.Error(), "statebackend: --invocation: ")
			problem = strings.TrimSuffix(problem, ": "+state.ErrInvalidArgument.Error())
			return req, usageErrorf("--invocation %q: give an invocation id (this one is %s)", truncate(id, 64), problem)
		}
		f.Invocations = append(f.Invocations, state.InvocationID(id))
	}
	for _, key := range splitValues(fl.tasks) {
		t, err := state.ParseTaskID(key)
		if err != nil {
			return req, usageErrorf("--task %q: a task key is module.function, such as reports.build", key)
		}
		f.Tasks = append(f.Tasks, t)
	}
	if cmd.Flag("workflow").Changed {
		if err := state.InvocationID(fl.workflow).Validate("--workflow"); err != nil {
			return req, usageErrorf("--workflow %q: give a workflow id (the id of the invocation that started it)", fl.workflow)
		}
		f.WorkflowID = state.InvocationID(fl.workflow)
	}
	for _, s := range splitValues(fl.statuses) {
		st := state.Status(strings.ToLower(s))
		if !st.Valid() {
			return req, usageErrorf("--status %q: not a status; use one of %s", s, statusNames())
		}
		f.Statuses = append(f.Statuses, st)
	}
	if len(f.Statuses) > 0 && len(f.Kinds) > 0 && !slices.Contains(f.Kinds, state.ChangeHistory) {
		return req, usageErrorf("--status selects history records, and --kind leaves them out: add history to --kind, or drop --status")
	}
	if cmd.Flag("poll").Changed {
		d, err := parseDuration("--poll", fl.poll)
		if err != nil {
			return req, err
		}
		if d < state.MinPollInterval || d > state.MaxPollInterval {
			return req, usageErrorf("--poll %s: give an interval from %s to %s", fl.poll,
				shortDuration(state.MinPollInterval), shortDuration(state.MaxPollInterval))
		}
		req.PollInterval = d
	}
	if fl.from != fromNow {
		// An empty --from is the oldest change kept, as none: a script
		// passes the cursor it saved, empty before its first run.
		req.After = state.ChangeCursor(fl.from)
	}
	if err := req.Validate(); err != nil {
		if req.After != "" && req.Filter.Validate() == nil {
			return req, usageErrorf("--from: not a cursor watch printed (%d bytes): give the cursor of the last line processed", len(fl.from))
		}
		return req, usageErrorf("%v", strings.TrimPrefix(err.Error(), "statebackend: "))
	}
	return req, nil
}

// watchedChange is one change as the watch command prints it.
type watchedChange struct {
	Cursor       string `json:"cursor"`
	Kind         string `json:"kind"`
	InvocationID string `json:"invocation_id"`
	Task         string `json:"task,omitempty"`
	WorkflowID   string `json:"workflow_id,omitempty"`
	Status       string `json:"status,omitempty"`
	Timestamp    string `json:"timestamp,omitempty"`
}

func watchedOf(ch state.Change) watchedChange {
	w := watchedChange{
		Cursor: string(ch.Cursor), Kind: string(ch.Kind), InvocationID: string(ch.InvocationID),
		Task: taskKey(ch.Task), WorkflowID: string(ch.WorkflowID),
	}
	if ch.Kind == state.ChangeHistory {
		w.Status = string(ch.Status)
		w.Timestamp = state.FormatTimestamp(ch.Timestamp)
	}
	return w
}

// watch prints the changes req asks for, one line each, written as soon
// as it is read; fromNow starts after the latest change.
func (c *cli) watch(ctx context.Context, req state.WatchRequest, fromNow bool) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	mode := readExisting
	if req.Follow {
		mode = readFollowing
	}
	cn, err := c.open(ctx, u, c.appID, mode)
	if err != nil {
		return err
	}
	defer cn.Close()
	have, err := listTables(ctx, cn.db)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", u.shown, err)
	}
	if !slices.Contains(have, cn.tables.Name("Change")) {
		return fmt.Errorf("%s in %s has no change feed: its schema predates the table of changes (version 4) that watch reads; "+
			"run statebackend migrate, which starts the feed (changes written before it are not in it)", appName(c.appID), u.shown)
	}
	if fromNow {
		if req.After, err = cn.backend.LatestChange(ctx); err != nil {
			return fmt.Errorf("read the latest change of %s in %s: %w", appName(c.appID), u.shown, err)
		}
	}
	// resume is the cursor a watch after the last line printed starts
	// from: the last line's, or where this one started.
	resume := req.After
	var printed int64
	c.onInterrupt = func() string {
		done := fmt.Sprintf("it printed %d changes, each line whole", printed)
		if printed == 1 {
			done = "it printed 1 change, its line whole"
		}
		if resume == "" {
			return done + "; run it again to start at the oldest change kept"
		}
		return done + "; to resume after the last one, run the same command with --from " + string(resume)
	}
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	for ch, err := range cn.backend.Watch(ctx, req) {
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return err
			case errors.Is(err, state.ErrCursorExpired):
				from := "the oldest change kept when it started"
				if resume != "" {
					from = "cursor " + string(resume)
				}
				return fmt.Errorf("the changes after %s were pruned (retention deleted them) before watch read them, "+
					"so a watch from there would miss some (%w); to restart, run watch without --from: it starts at the oldest change kept",
					from, state.ErrCursorExpired)
			case errors.Is(err, state.ErrInvalidArgument) && printed == 0 && req.After != "" && !fromNow:
				return usageErrorf("--from %q: not a cursor of the changes of this database; give the cursor of the last line processed",
					truncate(string(req.After), 64))
			}
			return fmt.Errorf("watch the changes of %s in %s: %w", appName(c.appID), u.shown, err)
		}
		line.Reset()
		if err := enc.Encode(watchedOf(ch)); err != nil {
			return err
		}
		// One write per line, unbuffered: a reader of the output sees
		// each change as soon as it is read, and an interruption leaves
		// whole lines only.
		if _, err := c.stdout.Write(line.Bytes()); err != nil {
			return fmt.Errorf("write the changes: %w", err)
		}
		resume = ch.Cursor
		printed++
	}
	return nil
}

// shortDuration writes d as Go does, without the zero units after hours
// or minutes: "1h", not "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// truncate returns s cut to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
