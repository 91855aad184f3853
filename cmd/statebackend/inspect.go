package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

func (c *cli) inspectCommand() *cobra.Command {
	var full bool
	var maxBytes int
	cmd := &cobra.Command{
		Use:   "inspect INVOCATION_ID",
		Short: "Show an invocation: its call, history timeline, result or exception, children",
		Long: `inspect shows one invocation: its task, call and arguments, its parent and
workflow, its status history as a timeline (time, status, runner, time spent
in each status), its result or exception (pretty-printed when it is JSON,
cut after --max-bytes unless --full) and its children.`,
		Args: exactArgs(1, "one invocation id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxBytes < 1 {
				return usageErrorf("--max-bytes %d: give a positive number of bytes", maxBytes)
			}
			if full {
				maxBytes = 0
			}
			return c.inspect(cmd.Context(), statebackend.InvocationID(args[0]), maxBytes)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "show results and exceptions whole")
	cmd.Flags().IntVar(&maxBytes, "max-bytes", 2048, "cut results and exceptions after this many bytes")
	return cmd
}

// inspection is what inspect prints.
type inspection struct {
	Invocation inspectedInvocation `json:"invocation"`
	History    []timelineEntry     `json:"history"`
	Result     *payload            `json:"result"`
	Exception  *payload            `json:"exception"`
	Children   []string            `json:"children"`
}

type inspectedInvocation struct {
	ID               string            `json:"invocation_id"`
	Task             string            `json:"task"`
	Call             string            `json:"call"`
	Arguments        map[string]string `json:"arguments"`
	Parent           string            `json:"parent_invocation_id"`
	WorkflowID       string            `json:"workflow_id"`
	WorkflowType     string            `json:"workflow_type"`
	ParentWorkflowID string            `json:"parent_workflow_id"`
}

// timelineEntry is a history record with the time its status lasted: until
// the next record, or nil for the last one.
type timelineEntry struct {
	Timestamp       string   `json:"timestamp"`
	Status          string   `json:"status"`
	RunnerContextID string   `json:"runner_context_id"`
	OwnerRunnerID   string   `json:"owner_runner_id"`
	SpentSeconds    *float64 `json:"spent_seconds"`
	spent           time.Duration
	last            bool
	final           bool
}

// payload is a result or an exception, cut to the size asked for.
type payload struct {
	Bytes     int  `json:"bytes"`
	Truncated bool `json:"truncated"`
	// JSON holds the payload when it is a JSON document shown whole;
	// Text holds it otherwise.
	JSON json.RawMessage `json:"json,omitempty"`
	Text *string         `json:"text,omitempty"`
}

func (c *cli) inspect(ctx context.Context, id statebackend.InvocationID, maxBytes int) error {
	if err := id.Validate("INVOCATION_ID"); err != nil {
		return usageErrorf("%v", err)
	}
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	cn, err := c.open(ctx, u, c.appID, readExisting)
	if err != nil {
		return err
	}
	defer cn.Close()
	b := cn.backend
	inv, err := b.Invocation(ctx, id)
	if isNotFound(err) {
		return fmt.Errorf("invocation %q not found in %s of %s; check the id and --app", id, appName(c.appID), u.shown)
	}
	if err != nil {
		return err
	}
	hist, err := b.History(ctx, id)
	if err != nil {
		return err
	}
	children, err := b.ChildInvocations(ctx, id)
	if err != nil {
		return err
	}
	out := inspection{
		Invocation: inspectedInvocation{
			ID: string(inv.ID), Task: inv.CallID.Task.Key(), Call: inv.CallID.Key(), Arguments: inv.Arguments,
			Parent: string(inv.ParentInvocationID), WorkflowID: string(inv.Workflow.WorkflowID),
			WorkflowType: inv.Workflow.WorkflowType.Key(), ParentWorkflowID: string(inv.Workflow.ParentWorkflowID),
		},
		History:  timeline(hist),
		Children: make([]string, len(children)),
	}
	for i, ch := range children {
		out.Children[i] = string(ch)
	}
	if out.Result, err = readPayload(ctx, b.Result, id, maxBytes); err != nil {
		return err
	}
	if out.Exception, err = readPayload(ctx, b.Exception, id, maxBytes); err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.stdout, out)
	}
	return printInspection(c, out)
}

// timeline turns a history (ascending) into timeline entries.
func timeline(hist []statebackend.InvocationHistory) []timelineEntry {
	out := make([]timelineEntry, len(hist))
	for i, h := range hist {
		e := timelineEntry{
			Timestamp: state.FormatTimestamp(h.Timestamp), Status: string(h.StatusRecord.Status),
			RunnerContextID: h.RunnerContextID, OwnerRunnerID: h.StatusRecord.RunnerID,
			last: i == len(hist)-1, final: h.StatusRecord.Status.Final(),
		}
		if !e.last {
			e.spent = hist[i+1].Timestamp.Sub(h.Timestamp)
			s := e.spent.Seconds()
			e.SpentSeconds = &s
		}
		out[i] = e
	}
	return out
}

// readPayload reads a result or exception; nil when there is none.
func readPayload(ctx context.Context, get func(context.Context, statebackend.InvocationID) ([]byte, error),
	id statebackend.InvocationID, maxBytes int) (*payload, error) {
	data, err := get(ctx, id)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &payload{Bytes: len(data)}
	if json.Valid(data) && (maxBytes == 0 || len(data) <= maxBytes) {
		var buf bytes.Buffer
		if json.Compact(&buf, data) == nil {
			p.JSON = buf.Bytes()
			return p, nil
		}
	}
	text := string(data)
	if maxBytes > 0 && len(data) > maxBytes {
		text = strings.ToValidUTF8(string(data[:maxBytes]), "")
		p.Truncated = true
	}
	p.Text = &text
	return p, nil
}

func printInspection(c *cli, in inspection) error {
	inv := in.Invocation
	t := newTable(c.stdout)
	t.row("invocation", inv.ID)
	t.row("task", inv.Task)
	t.row("call", inv.Call)
	names := make([]string, 0, len(inv.Arguments))
	for k := range inv.Arguments {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.row("arguments", "none")
	}
	for i, k := range names {
		label := ""
		if i == 0 {
			label = "arguments"
		}
		t.row(label, k+" = "+inv.Arguments[k])
	}
	t.row("parent", orDash(inv.Parent))
	wf := inv.WorkflowID + " (type " + inv.WorkflowType + ")"
	if inv.ParentWorkflowID != "" {
		wf += ", started in workflow " + inv.ParentWorkflowID
	}
	t.row("workflow", wf)
	children := "none"
	if len(in.Children) > 0 {
		children = strings.Join(in.Children, ", ")
	}
	t.row("children", children)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	if len(in.History) == 0 {
		fmt.Fprintln(c.stdout, "history: none")
	} else {
		t = newTable(c.stdout, "TIME", "STATUS", "FOR", "RUNNER", "OWNER")
		for _, e := range in.History {
			spent := formatSpent(e.spent)
			if e.last {
				spent = "(current)"
				if e.final {
					spent = "(final)"
				}
			}
			t.row(e.Timestamp, e.Status, spent, orDash(e.RunnerContextID), orDash(e.OwnerRunnerID))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		name string
		p    *payload
	}{{"result", in.Result}, {"exception", in.Exception}} {
		if p.p == nil {
			continue
		}
		fmt.Fprintf(c.stdout, "\n%s (%d bytes):\n", p.name, p.p.Bytes)
		if p.p.JSON != nil {
			var buf bytes.Buffer
			_ = json.Indent(&buf, p.p.JSON, "", "  ")
			fmt.Fprintln(c.stdout, buf.String())
			continue
		}
		fmt.Fprintln(c.stdout, *p.p.Text)
		if p.p.Truncated {
			fmt.Fprintf(c.stdout, "... cut at %d of %d bytes; --full shows all\n", len(*p.p.Text), p.p.Bytes)
		}
	}
	return nil
}

// formatSpent formats how long a status lasted, to the microsecond.
func formatSpent(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	return d.Round(time.Millisecond).String()
}
