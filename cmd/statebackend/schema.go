package main

import (
	"context"
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
	m, closeDB, err := c.openMigrator(u, c.appID)
	if err != nil {
		return schemaReport{}, fmt.Errorf("cannot reach the %s database at %s: %w", u.kind, u.shown, err)
	}
	defer closeDB()
	st, err := m.Status(ctx)
	if err != nil {
		return schemaReport{}, err
	}
	rep := schemaReport{App: c.appID, Current: describeVersion(st), Newest: strconv.Itoa(st.Latest), Pending: []string{}}
	for _, p := range st.Pending {
		rep.Pending = append(rep.Pending, fmt.Sprintf("%d %s", p.Version, p.Name))
	}
	return rep, nil
}
