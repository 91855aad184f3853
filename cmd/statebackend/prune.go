package main

import (
	"context"
	"fmt"
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
	var dryRun, yes bool
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete the state older than a duration, in batches (--dry-run counts only)",
		Long: `prune deletes the finished work of the app that is older than --older-than:
each top-level workflow run whose every invocation has a final status
(success, failed, concurrency_controlled_final) and no history record since
the cutoff, with everything under it. Live work is never deleted. It works
--batch invocations per short transaction, so writers are never blocked for
long, and an interrupted prune is finished by the next one: what it deleted
stays deleted. With --dry-run it counts what it would delete and deletes
nothing.

--older-than is a duration: 30d (days), 2w (weeks), 36h, 90m, 1h30m. The
units are s, m, h, d and w; m is minutes, as in Go, and there is no month
or year unit (give 30d, 365d). A duration under an hour deletes work that
finished minutes ago, so it also needs --yes (a dry run does not).`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "older-than"); err != nil {
				return err
			}
			age, err := parseDuration("--older-than", olderThan)
			if err != nil {
				return err
			}
			if age < youngPrune && !dryRun && !yes {
				return usageErrorf("--older-than %s is %s (m is minutes; 30d is 30 days): prune would delete work that finished %s ago; "+
					"if that is meant, run it again with --yes (or see what it would delete with --dry-run)", olderThan, minutes(age), minutes(age))
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
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete what finished longer ago than this: 30d, 2w, 36h, 90m (m is minutes; no month or year unit)")
	cmd.Flags().IntVar(&batch, "batch", statebackend.DefaultPruneBatchSize, "invocations deleted per transaction")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm an --older-than under an hour")
	return cmd
}

// youngPrune is the --older-than below which prune needs --yes: "1m" is
// easily meant as a month, and deletes work that ended a minute ago.
const youngPrune = time.Hour

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
	mode := writeExisting
	if req.DryRun {
		mode = readExisting // counting reads only
	}
	cn, err := c.open(ctx, u, c.appID, mode)
	if err != nil {
		return pruneStats{}, err
	}
	defer cn.Close()
	pruner := cn.backend
	prog := c.newProgress(-1, "pruning", "invocations")
	defer prog.done()
	var sofar statebackend.PruneStats
	c.onInterrupt = func() string {
		if req.DryRun {
			return "a dry run, nothing was deleted"
		}
		return fmt.Sprintf("the %d workflow runs (%d invocations) deleted in %d batches before it stopped stay deleted; run it again to continue",
			sofar.Units, sofar.Invocations, sofar.Batches)
	}
	st, err := pruner.Prune(ctx, statebackend.PruneOptions{
		OlderThan: req.OlderThan, BatchSize: req.Batch, DryRun: req.DryRun,
		Progress: func(s statebackend.PruneStats) {
			prog.add(int(s.Invocations - sofar.Invocations))
			sofar = s
			c.log.Debug("pruned a batch", "batches", s.Batches, "invocations", s.Invocations)
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
