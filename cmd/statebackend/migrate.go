package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// migrate upgrades the app's schema to the newest version the library
// knows, or to --to; --dry-run prints the plan and changes nothing.
//
// Everything but the library call is here: flags, checks, output.
// WIRE (schema versions): implement applyMigrations with the library's
// schema-versions API (read the current version, list the pending
// migrations up to `to`, apply them unless dryRun).

func (c *cli) migrateCommand() *cobra.Command {
	var to string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Upgrade the app's schema (--to a version, --dry-run to see the plan)",
		Long: `migrate applies the schema migrations the database lacks, in order, up to the
newest version this build knows or to --to. With --dry-run it prints the
migrations it would apply and changes nothing.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flag("to").Changed && to == "" {
				return usageErrorf("--to: give a schema version (statebackend version lists them)")
			}
			u, err := c.dbURL()
			if err != nil {
				return err
			}
			plan, err := applyMigrations(cmd.Context(), u, c.appID, to, dryRun)
			if err != nil {
				return fmt.Errorf("migrate %s in %s: %w", appName(c.appID), u.shown, err)
			}
			return c.printMigration(plan)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "migrate up to this schema version (default: the newest)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the migrations to apply, change nothing")
	return cmd
}

// migrationPlan is what migrate did, or would do with --dry-run.
type migrationPlan struct {
	App    string   `json:"app_id"`
	From   string   `json:"from_version"`
	To     string   `json:"to_version"`
	Steps  []string `json:"migrations"`
	DryRun bool     `json:"dry_run"`
}

// applyMigrations migrates appID on u to the version to ("" = newest).
func applyMigrations(_ context.Context, _ dbURL, _ string, _ string, _ bool) (migrationPlan, error) {
	return migrationPlan{}, fmt.Errorf("%w: the library of this build has no schema-versions API", errNotAvailable)
}

func (c *cli) printMigration(p migrationPlan) error {
	if c.output == "json" {
		return writeJSON(c.stdout, p)
	}
	switch {
	case len(p.Steps) == 0:
		fmt.Fprintf(c.stdout, "%s is at schema version %s: nothing to migrate\n", appName(p.App), p.From)
	case p.DryRun:
		fmt.Fprintf(c.stdout, "would migrate %s from %s to %s:\n", appName(p.App), p.From, p.To)
	default:
		fmt.Fprintf(c.stdout, "migrated %s from %s to %s:\n", appName(p.App), p.From, p.To)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(c.stdout, "  %s\n", s)
	}
	return nil
}
