package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
)

func (c *cli) workflowsCommand() *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use:   "workflows",
		Short: "List the workflow runs, all or of one type",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var t statebackend.TaskID
			if cmd.Flag("type").Changed {
				var err error
				if t, err = statebackend.ParseTaskID(typ); err != nil {
					return usageErrorf("--type %q: a workflow type is a task key, module.function", typ)
				}
			}
			return c.workflows(cmd.Context(), t)
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "only runs of this workflow type (a task key: module.function)")
	return cmd
}

type workflowRun struct {
	WorkflowID       string `json:"workflow_id"`
	WorkflowType     string `json:"workflow_type"`
	ParentWorkflowID string `json:"parent_workflow_id"`
}

func (c *cli) workflows(ctx context.Context, typ statebackend.TaskID) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	cn, err := c.open(ctx, u, c.appID, readExisting)
	if err != nil {
		return err
	}
	defer cn.Close()
	var runs []statebackend.WorkflowIdentity
	if typ.IsZero() {
		runs, err = cn.backend.WorkflowRuns(ctx)
	} else {
		runs, err = cn.backend.WorkflowRunsOfType(ctx, typ)
	}
	if err != nil {
		return err
	}
	out := make([]workflowRun, len(runs))
	for i, r := range runs {
		out[i] = workflowRun{string(r.WorkflowID), r.WorkflowType.Key(), string(r.ParentWorkflowID)}
	}
	if c.output == "json" {
		return writeJSON(c.stdout, out)
	}
	if len(out) == 0 {
		if typ.IsZero() {
			fmt.Fprintln(c.stdout, "no workflow runs")
		} else {
			fmt.Fprintf(c.stdout, "no workflow runs of type %s\n", typ.Key())
		}
		return nil
	}
	t := newTable(c.stdout, "WORKFLOW", "TYPE", "PARENT WORKFLOW")
	for _, r := range out {
		t.row(r.WorkflowID, r.WorkflowType, orDash(r.ParentWorkflowID))
	}
	return t.flush()
}
