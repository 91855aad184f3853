package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
)

// prune deletes the state of finished work older than a cutoff, in
// batches, through the library's optional retention interface
// (statebackend.Pruner): whole top-level workflow runs whose every
// invocation ended (success, failed, concurrency_controlled_final) before
// the cutoff; live work is never touched.

func (c *cli) pruneCommand() *cobra.Command {
	var olderThan string
	var batch int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete the state older than a duration, in batches (--dry-run counts only)",
		Long: `prune deletes the finished work of the app that is older than --older-than
(a duration such as 720h, 90m, or days: 30d): each top-level workflow run
whose every invocation has a final status (success, failed,
concurrency_controlled_final) and no history record since the cutoff, with
everything under it. Live work is never deleted. It works --batch
invocations per short transaction, so writers are never blocked for long,
and an interrupted prune is finished by the next one. With --dry-run it
counts what it would delete and deletes nothing.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "older-than"); err != nil {
				return err
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return err
			}
			if batch < 1 {
				return usageErrorf("--batch %d: give a positive number of invocations", batch)
			}
			u, err := c.dbURL()
			if err != nil {
				return err
			}
			req := pruneRequest{OlderThan: age, Before: time.Now().UTC().Add(-age), Batch: batch, DryRun: dryRun}
			stats, err := c.runPrune(cmd.Context(), u, req)
			if err != nil {
				return fmt.Errorf("prune %s in %s: %w", appName(c.appID), u.shown, err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, stats)
			}
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			fmt.Fprintf(c.stdout, "%s %d finished workflow runs older than %s:\n", verb, stats.Units, olderThan)
			t := newTable(c.stdout)
			t.row("invocations", fmt.Sprint(stats.Invocations))
			t.row("history records", fmt.Sprint(stats.HistoryRecords))
			t.row("results", fmt.Sprint(stats.Results))
			t.row("exceptions", fmt.Sprint(stats.Exceptions))
			t.row("workflow runs", fmt.Sprint(stats.WorkflowRuns))
			t.row("workflow data", fmt.Sprint(stats.WorkflowData))
			t.row("sub-invocations", fmt.Sprint(stats.SubInvocations))
			t.row("kept (live or recent)", fmt.Sprint(stats.Kept))
			t.row("batches", fmt.Sprint(stats.Batches))
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete what is older than this (720h, 30d, ...)")
	cmd.Flags().IntVar(&batch, "batch", statebackend.DefaultPruneBatchSize, "invocations deleted per transaction")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	return cmd
}

// pruneRequest is what prune asks of the library.
type pruneRequest struct {
	OlderThan time.Duration
	Before    time.Time // now - OlderThan, for messages
	Batch     int
	DryRun    bool
}

// pruneStats is what prune reports: rows deleted (or that would be) per
// table, units being top-level workflow runs.
type pruneStats struct {
	Units          int64 `json:"workflow_runs_pruned"`
	Invocations    int64 `json:"invocations"`
	HistoryRecords int64 `json:"history_records"`
	Results        int64 `json:"results"`
	Exceptions     int64 `json:"exceptions"`
	WorkflowRuns   int64 `json:"workflow_runs"`
	WorkflowData   int64 `json:"workflow_data"`
	SubInvocations int64 `json:"sub_invocations"`
	Kept           int64 `json:"kept"`
	Batches        int64 `json:"batches"`
	DryRun         bool  `json:"dry_run"`
	// Cutoff is when the pruned work had to have finished by.
	Cutoff time.Time `json:"cutoff"`
}

// runPrune prunes the app of --app on u.
func (c *cli) runPrune(ctx context.Context, u dbURL, req pruneRequest) (pruneStats, error) {
	cn, err := c.open(ctx, u, c.appID, writeExisting)
	if err != nil {
		return pruneStats{}, err
	}
	defer cn.Close()
	pruner := cn.backend
	prog := c.newProgress(-1, "pruning")
	defer prog.done()
	var seen int64
	st, err := pruner.Prune(ctx, statebackend.PruneOptions{
		OlderThan: req.OlderThan, BatchSize: req.Batch, DryRun: req.DryRun,
		Progress: func(s statebackend.PruneStats) {
			prog.add(int(s.Invocations - seen))
			seen = s.Invocations
		},
	})
	if err != nil {
		return pruneStats{}, err
	}
	return pruneStats{
		Units: st.Units, Invocations: st.Invocations, HistoryRecords: st.History, Results: st.Results,
		Exceptions: st.Exceptions, WorkflowRuns: st.WorkflowRuns, WorkflowData: st.WorkflowData,
		SubInvocations: st.SubInvocations, Kept: st.Kept, Batches: st.Batches, DryRun: req.DryRun, Cutoff: req.Before,
	}, nil
}

// parseAge reads a duration, also in days ("30d").
func parseAge(s string) (time.Duration, error) {
	bad := usageErrorf("--older-than %q: give a positive duration such as 720h, 90m or 30d", s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}
