package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/migrations"
)

// migrate upgrades the app's schema to the newest version the library
// knows, or to --to; --dry-run prints the plan and changes nothing.
// It runs statebackend.Migrator: under the database's migration lock,
// each migration in a transaction where the database allows it.

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
			plan, err := c.applyMigrations(cmd.Context(), u, to, dryRun)
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

// applyMigrations migrates the app of --app on u to the version to (""
// = newest), or only plans it when dryRun.
func (c *cli) applyMigrations(ctx context.Context, u dbURL, to string, dryRun bool) (migrationPlan, error) {
	target := 0
	if to != "" {
		n, err := strconv.Atoi(to)
		if err != nil || n < 1 {
			return migrationPlan{}, usageErrorf("--to %q: give a schema version number (statebackend version lists them)", to)
		}
		target = n
	}
	if !u.exists() {
		return migrationPlan{}, fmt.Errorf("no SQLite database at %s: check the path (migrate never creates one)", u.path)
	}
	m, closeDB, err := c.openMigrator(u, c.appID)
	if err != nil {
		return migrationPlan{}, fmt.Errorf("cannot reach the %s database at %s: %w", u.kind, u.shown, err)
	}
	defer closeDB()
	res, err := m.Migrate(ctx, migrations.Options{To: target, DryRun: dryRun})
	if errors.Is(err, statebackend.ErrInvalidArgument) {
		return migrationPlan{}, usageErrorf("--to %s: %v", to, err)
	}
	if err != nil {
		return migrationPlan{}, err
	}
	plan := migrationPlan{App: c.appID, From: strconv.Itoa(res.From), To: strconv.Itoa(res.To), Steps: []string{}, DryRun: dryRun}
	if res.RecordVersion1 {
		plan.Steps = append(plan.Steps, "record version 1 (tables created by v0.1.0; no row changes)")
	}
	for _, mg := range res.Applied {
		plan.Steps = append(plan.Steps, fmt.Sprintf("%d %s: %s", mg.Version, mg.Name, mg.Description))
	}
	return plan, nil
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
