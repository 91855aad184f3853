package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// schema shows the app's schema version and the migrations pending.
// It reads the catalog and the migrations table, and changes nothing.

func (c *cli) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Show the app's schema version and the migrations pending",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := c.dbURL()
			if err != nil {
				return err
			}
			rep, err := c.readSchema(cmd.Context(), u)
			var missing *noTablesError
			if errors.As(err, &missing) {
				return err
			}
			if err != nil {
				return fmt.Errorf("schema of %s in %s: %w", appName(c.appID), u.shown, err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, rep)
			}
			t := newTable(c.stdout)
			t.row("app", appName(rep.App))
			t.row("version", rep.Current)
			t.row("newest known", rep.Newest)
			pending := "none"
			if len(rep.Pending) > 0 {
				pending = strings.Join(rep.Pending, ", ")
			}
			t.row("pending", pending)
			return t.flush()
		},
	}
}

// schemaReport is what schema prints.
type schemaReport struct {
	App     string   `json:"app_id"`
	Current string   `json:"version"`
	Newest  string   `json:"newest_known"`
	Pending []string `json:"pending"`
}

// readSchema reads the schema version of the app of --app on u.
func (c *cli) readSchema(ctx context.Context, u dbURL) (schemaReport, error) {
	if !u.exists() {
		return schemaReport{}, fmt.Errorf("no SQLite database at %s: check the path (this command never creates one)", u.path)
	}
	m, err := c.openMigrator(u, c.appID, readExisting)
	if err != nil {
		return schemaReport{}, err
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		return schemaReport{}, err
	}
	if st.Version == 0 {
		return schemaReport{}, &noTablesError{app: c.appID, db: u.shown, apps: appsIn(ctx, u), hint: "check --app"}
	}
	rep := schemaReport{App: c.appID, Current: describeVersion(st), Newest: strconv.Itoa(st.Latest), Pending: []string{}}
	for _, p := range st.Pending {
		rep.Pending = append(rep.Pending, fmt.Sprintf("%d %s", p.Version, p.Name))
	}
	return rep, nil
}

// noTablesError reports an app with no tables in a database, as status
// does: the apps that are there, and what to do.
type noTablesError struct {
	app, db string
	// apps names the apps of the database ("apps there: ...").
	apps string
	hint string
}

func (e *noTablesError) Error() string {
	return fmt.Sprintf("%s has no tables in %s (%s); %s", appName(e.app), e.db, e.apps, e.hint)
}

// appsIn names the apps of the database u for a noTablesError: "apps
// there: ...", or "the database holds no app".
func appsIn(ctx context.Context, u dbURL) string {
	db, err := openGorm(u, readExisting)
	if err != nil {
		return "its apps cannot be listed: " + err.Error()
	}
	defer closeGorm(db)
	have, err := listTables(ctx, db)
	if err != nil {
		return "its apps cannot be listed: " + err.Error()
	}
	if apps := appsByTables(ctx, db, have); len(apps) > 0 {
		return "apps there: " + strings.Join(apps, ", ")
	}
	return "the database holds no app"
}
