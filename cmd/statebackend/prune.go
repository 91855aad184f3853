package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// prune deletes the state of invocations finished before a cutoff, in
// batches, through the library's optional retention interface.
//
// Everything but the library call is here: flags, checks, output.
// WIRE (retention): implement runPrune by type-asserting cn.backend to
// state.Pruner and calling Prune(ctx, state.PruneOptions{...}) with the
// cutoff, batch size and dry-run of req, converting its PruneStats to
// pruneStats (and feeding the progress bar if PruneOptions reports
// progress); a backend without Pruner fails with errNotAvailable.

func (c *cli) pruneCommand() *cobra.Command {
	var olderThan string
	var batch int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete the state older than a duration, in batches (--dry-run counts only)",
		Long: `prune deletes what the app keeps about invocations older than --older-than
(a duration such as 720h, 90m, or days: 30d), --batch at a time so that
writers are never blocked for long. With --dry-run it counts what it would
delete and deletes nothing.`,
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
				return usageErrorf("--batch %d: give a positive number of rows", batch)
			}
			u, err := c.dbURL()
			if err != nil {
				return err
			}
			req := pruneRequest{Before: time.Now().UTC().Add(-age), Batch: batch, DryRun: dryRun}
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
			fmt.Fprintf(c.stdout, "%s the state of %d invocations (%d history records) older than %s\n",
				verb, stats.Invocations, stats.HistoryRecords, req.Before.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete what is older than this (720h, 30d, ...)")
	cmd.Flags().IntVar(&batch, "batch", 1000, "rows deleted per transaction")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	return cmd
}

// pruneRequest is what prune asks of the library.
type pruneRequest struct {
	Before time.Time
	Batch  int
	DryRun bool
}

// pruneStats is what prune reports.
type pruneStats struct {
	Invocations    int64 `json:"invocations"`
	HistoryRecords int64 `json:"history_records"`
	DryRun         bool  `json:"dry_run"`
}

// runPrune prunes the app of --app on u.
func (c *cli) runPrune(_ context.Context, _ dbURL, _ pruneRequest) (pruneStats, error) {
	return pruneStats{}, fmt.Errorf("%w: the library of this build has no retention API", errNotAvailable)
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
