package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// schema shows the app's schema version and the migrations pending.
//
// WIRE (schema versions): implement readSchema with the library's
// schema-versions API (the current version of the app's tables and the
// migrations newer than it).

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
			rep, err := readSchema(cmd.Context(), u, c.appID)
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

// readSchema reads the schema version of appID on u.
func readSchema(_ context.Context, _ dbURL, _ string) (schemaReport, error) {
	return schemaReport{}, fmt.Errorf("%w: the library of this build has no schema-versions API", errNotAvailable)
}
