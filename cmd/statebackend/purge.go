package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func (c *cli) purgeCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge --yes",
		Short: "Delete every record of the app (its tables stay)",
		Long: `purge deletes every record of the app chosen by --app: invocations, history,
results, exceptions, runner contexts, workflows, workflow data and app info.
The tables stay, and other apps in the database are untouched. It refuses to
run without --yes.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.purge(cmd.Context(), yes)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func (c *cli) purge(ctx context.Context, yes bool) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	if !yes {
		return usageErrorf("purge deletes every record of %s in %s and cannot be undone: run it again with --yes", appName(c.appID), u.shown)
	}
	cn, err := c.open(ctx, u, c.appID, writeExisting)
	if err != nil {
		return err
	}
	defer cn.Close()
	if err := cn.backend.Purge(ctx); err != nil {
		return err
	}
	if c.output == "json" {
		return writeJSON(c.stdout, map[string]any{"purged": true, "app_id": c.appID, "database": u.shown})
	}
	fmt.Fprintf(c.stdout, "purged %s in %s\n", appName(c.appID), u.shown)
	return nil
}
