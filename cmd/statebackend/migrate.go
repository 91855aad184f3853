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
	var dryRun, create bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Upgrade the app's schema, or create a new database (--create)",
		Long: `migrate applies the schema migrations the database lacks, in order, up to the
newest version this build knows or to --to. With --dry-run it prints the
migrations it would apply and changes nothing.

A new database: migrate --create creates the app's tables at the newest
schema version, and the SQLite file first when it does not exist:

  statebackend --db sqlite:state.db --app myapp migrate --create

On Postgres and MySQL/MariaDB the database itself (CREATE DATABASE) is the
server administrator's; --create creates the app's tables in it. Without
--create, migrate refuses a missing SQLite file and an app with no tables,
so a mistyped path or --app creates nothing.

Interrupted (Ctrl-C, SIGTERM): on SQLite the whole migrate is one
transaction, rolled back; on Postgres each migration is one, so the one
under way is rolled back and those before it stay; MySQL and MariaDB commit
each schema change on its own, so the migration under way may stay partly
applied, unrecorded. In every case, run migrate again: it finds the steps
already done and applies the rest.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flag("to").Changed && to == "" {
				return usageErrorf("--to: give a schema version (statebackend version lists them)")
			}
			u, err := c.dbURL()
			if err != nil {
				return err
			}
			c.onInterrupt = func() string { return migrateInterrupted(u.kind) }
			plan, err := c.applyMigrations(cmd.Context(), u, to, dryRun, create)
			var missing *noTablesError
			if errors.As(err, &missing) {
				return err
			}
			if err != nil {
				return fmt.Errorf("migrate %s in %s: %w", appName(c.appID), u.shown, err)
			}
			return c.printMigration(plan)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "migrate up to this schema version (default: the newest)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the migrations to apply, change nothing")
	cmd.Flags().BoolVar(&create, "create", false, "create the app's tables when it has none (and a new SQLite file)")
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

// migrateInterrupted says what an interrupted migrate left on a database
// of kind.
func migrateInterrupted(kind string) string {
	switch kind {
	case "sqlite":
		return "on SQLite a migrate runs in one transaction, which was rolled back: nothing changed; run migrate again"
	case "postgres":
		return "Postgres runs each migration in one transaction, so the one under way was rolled back and those before it stay applied; " +
			"run migrate again to finish"
	}
	return "MySQL and MariaDB commit each schema change on its own, so the migration under way may stay partly applied (not recorded); " +
		"run migrate again: it finds the steps already done and applies the rest"
}

// applyMigrations migrates the app of --app on u to the version to (""
// = newest), or only plans it when dryRun. Tables of an app that has none,
// and a new SQLite file, are created only when create is set.
func (c *cli) applyMigrations(ctx context.Context, u dbURL, to string, dryRun, create bool) (migrationPlan, error) {
	target := 0
	if to != "" {
		n, err := strconv.Atoi(to)
		if err != nil || n < 1 {
			return migrationPlan{}, usageErrorf("--to %q: give a schema version number (statebackend version lists them)", to)
		}
		target = n
	}
	if !u.exists() {
		switch {
		case !create:
			return migrationPlan{}, fmt.Errorf("no SQLite database at %s: check the path, or create a new database there with migrate --create", u.path)
		case dryRun:
			// Planned without opening it, which would create the file.
			return newDatabasePlan(c.appID, target)
		}
	}
	mode := writeExisting
	if dryRun {
		mode = readExisting // a plan reads the schema only
	}
	m, err := c.openMigrator(u, c.appID, mode)
	if err != nil {
		return migrationPlan{}, err
	}
	defer m.Close()
	if !create {
		st, err := m.Status(ctx)
		if err != nil {
			return migrationPlan{}, err
		}
		if st.Version == 0 {
			return migrationPlan{}, &noTablesError{app: c.appID, db: u.shown, apps: appsIn(ctx, u),
				hint: "check --app, or create the app's tables with migrate --create"}
		}
	}
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

// newDatabasePlan is the plan of migrate --create --dry-run on a SQLite
// file that does not exist: every migration up to target (0: the newest).
func newDatabasePlan(appID string, target int) (migrationPlan, error) {
	all := migrations.All()
	if target == 0 {
		target = len(all)
	}
	if target > len(all) {
		return migrationPlan{}, usageErrorf("--to %d: this build knows schema versions 1 to %d", target, len(all))
	}
	plan := migrationPlan{App: appID, From: "0", To: strconv.Itoa(target), Steps: []string{}, DryRun: true}
	for _, mg := range all[:target] {
		plan.Steps = append(plan.Steps, fmt.Sprintf("%d %s: %s", mg.Version, mg.Name, mg.Description))
	}
	return plan, nil
}

func (c *cli) printMigration(p migrationPlan) error {
	if c.output == "json" {
		return writeJSON(c.stdout, p)
	}
	switch {
	case p.From == "0" && p.DryRun:
		fmt.Fprintf(c.stdout, "would create the tables of %s at schema version %s:\n", appName(p.App), p.To)
	case p.From == "0":
		fmt.Fprintf(c.stdout, "created the tables of %s at schema version %s:\n", appName(p.App), p.To)
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
