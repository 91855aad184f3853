package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/state"
)

func (c *cli) statusCommand() *cobra.Command {
	var byTask bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the apps in the database, their tables' rows and sizes, their invocations per status",
		Long: `status shows the database, its size where the database tells it, the apps
registered in it (DiscoverAppInfos), for each app's tables the rows and the
size, and the number of invocations in each current status (the last record
of their history), per task as well with --by-task. With --app it shows that
app only, and fails when it has no tables.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.status(cmd.Context(), cmd.Flag("app").Changed, byTask)
		},
	}
	cmd.Flags().BoolVar(&byTask, "by-task", false, "count the invocations per task and status")
	return cmd
}

// statusReport is what status prints.
type statusReport struct {
	Database string `json:"database"`
	Dialect  string `json:"dialect"`
	// SizeBytes is null where the database cannot tell.
	SizeBytes *int64 `json:"size_bytes"`
	// SchemaVersion is the schema version of the app of --app; null
	// without --app (each app has its own, in Apps).
	SchemaVersion *string       `json:"schema_version"`
	Apps          []statusApp   `json:"apps"`
	Tables        []statusTable `json:"tables"`
	// InvocationCounts counts each app's invocations per current status
	// (and task, with --by-task).
	InvocationCounts []statusCount `json:"invocation_counts"`
	// InvocationCountErrors says why the invocations of an app could not
	// be counted; omitted when they all were.
	InvocationCountErrors []statusCountError `json:"invocation_count_errors,omitempty"`
}

type statusApp struct {
	AppID  string `json:"app_id"`
	Module string `json:"module"`
	// SchemaVersion is null when it cannot be read.
	SchemaVersion *string `json:"schema_version"`
}

// statusCount is one row of CountInvocations, of one app.
type statusCount struct {
	App string `json:"app"`
	// Task is present with --by-task only; "" counts the invocations known
	// from their history only.
	Task   *string `json:"task,omitempty"`
	Status string  `json:"status"`
	Count  int64   `json:"count"`
}

type statusCountError struct {
	App   string `json:"app"`
	Error string `json:"error"`
}

type statusTable struct {
	App       string `json:"app"`
	Table     string `json:"table"`
	Rows      int64  `json:"rows"`
	SizeBytes *int64 `json:"size_bytes"`
}

func (c *cli) status(ctx context.Context, appGiven, byTask bool) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	if !u.exists() {
		return fmt.Errorf("no SQLite database at %s: check the path (this command never creates one)", u.path)
	}
	db, err := openGorm(u, readExisting)
	if err != nil {
		return err
	}
	defer closeGorm(db)
	if appGiven {
		tables, err := entities.NewTables(c.appID, u.maxIdentifier())
		if err != nil {
			return usageErrorf("--app %q: %v", c.appID, err)
		}
		if err := checkApp(ctx, db, u, c.appID, tables); err != nil {
			return err
		}
	}
	b, err := statebackend.Open(dialectorFor(u, readExisting), statebackend.WithReadOnly(), statebackend.WithLogger(c.log))
	if err != nil {
		return fmt.Errorf("open %s: %w", u.shown, err)
	}
	defer b.Close()
	infos, err := b.DiscoverAppInfos(ctx)
	if err != nil {
		return fmt.Errorf("discover the apps in %s: %w", u.shown, err)
	}
	rep := statusReport{Database: u.shown, Dialect: u.kind, Apps: []statusApp{}, Tables: []statusTable{}, InvocationCounts: []statusCount{}}
	if n, ok := databaseSize(ctx, db, u.kind); ok {
		rep.SizeBytes = &n
	}
	if appGiven {
		rep.SchemaVersion = c.schemaVersion(ctx, u, c.appID)
	}
	for id, info := range infos {
		rep.Apps = append(rep.Apps, statusApp{AppID: id, Module: info.Module, SchemaVersion: c.schemaVersion(ctx, u, id)})
	}
	sort.Slice(rep.Apps, func(i, j int) bool { return rep.Apps[i].AppID < rep.Apps[j].AppID })

	names, err := listTables(ctx, db)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", u.shown, err)
	}
	sets := tableSets(names)
	prefixes := make([]string, 0, len(sets))
	for p := range sets {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	want := ""
	if appGiven {
		t, _ := entities.NewTables(c.appID, u.maxIdentifier())
		want = t.Prefix()
	}
	for _, prefix := range prefixes {
		if appGiven && prefix != want {
			continue
		}
		label := appLabel(prefix, infos, u.maxIdentifier())
		for _, name := range sets[prefix] {
			var rows int64
			if err := db.WithContext(ctx).Table(name).Count(&rows).Error; err != nil {
				return fmt.Errorf("count the rows of %s: %w", name, err)
			}
			st := statusTable{App: label, Table: name, Rows: rows}
			if n, ok := tableSize(ctx, db, u.kind, name); ok {
				st.SizeBytes = &n
			}
			rep.Tables = append(rep.Tables, st)
		}
		appID, known := appIDOf(prefix, infos, u.maxIdentifier())
		if appGiven {
			appID, known = c.appID, true
		}
		var uncountable error
		switch base, _ := entities.NewTables("", 0); {
		case !known:
			uncountable = errors.New("no app info names the app of these tables; give its id with --app")
		case !slices.Contains(sets[prefix], prefix+base.Name("InvocationStatus")):
			uncountable = errNoStatusTable
		}
		if err := c.countInvocations(ctx, u, appID, uncountable, label, byTask, &rep); err != nil {
			return err
		}
	}
	if c.output == "json" {
		return writeJSON(c.stdout, rep)
	}
	return printStatus(c, rep)
}

func printStatus(c *cli, rep statusReport) error {
	t := newTable(c.stdout)
	t.row("database", rep.Database)
	size := "unknown"
	if rep.SizeBytes != nil {
		size = fmt.Sprintf("%s (%d bytes)", humanBytes(*rep.SizeBytes), *rep.SizeBytes)
	}
	t.row("size", size)
	if rep.SchemaVersion != nil {
		t.row("schema version", *rep.SchemaVersion)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	if len(rep.Apps) == 0 {
		fmt.Fprintln(c.stdout, "no app info registered")
	} else {
		t = newTable(c.stdout, "APP", "MODULE", "SCHEMA VERSION")
		for _, a := range rep.Apps {
			version := "unknown"
			if a.SchemaVersion != nil {
				version = *a.SchemaVersion
			}
			t.row(a.AppID, orDash(a.Module), version)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(c.stdout)
	if len(rep.Tables) == 0 {
		fmt.Fprintln(c.stdout, "no state tables")
		return nil
	}
	t = newTable(c.stdout, "TABLES OF", "TABLE", "ROWS", "SIZE")
	for _, tb := range rep.Tables {
		size := "-"
		if tb.SizeBytes != nil {
			size = humanBytes(*tb.SizeBytes)
		}
		t.row(tb.App, tb.Table, fmt.Sprint(tb.Rows), size)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	if len(rep.InvocationCounts) == 0 {
		fmt.Fprintln(c.stdout, "no invocations with a status")
	} else {
		header := []string{"INVOCATIONS OF", "STATUS", "COUNT"}
		if rep.InvocationCounts[0].Task != nil {
			header = []string{"INVOCATIONS OF", "TASK", "STATUS", "COUNT"}
		}
		t = newTable(c.stdout, header...)
		for _, n := range rep.InvocationCounts {
			if n.Task != nil {
				t.row(n.App, orDash(*n.Task), n.Status, fmt.Sprint(n.Count))
			} else {
				t.row(n.App, n.Status, fmt.Sprint(n.Count))
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for _, e := range rep.InvocationCountErrors {
		fmt.Fprintf(c.stdout, "invocations of %s not counted: %s\n", e.App, e.Error)
	}
	return nil
}

// countInvocations adds to rep the counts of the invocations of the app
// appID, shown as label, per current status (and task when byTask), or
// why they could not be counted: uncountable when known beforehand (an app
// whose id is unknown, a schema too old), a backend without
// state.Browser, a failed query. Only an interruption fails the command.
func (c *cli) countInvocations(ctx context.Context, u dbURL, appID string, uncountable error, label string,
	byTask bool, rep *statusReport) error {
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Debug("count the invocations", "app", label, "err", err)
		rep.InvocationCountErrors = append(rep.InvocationCountErrors, statusCountError{
			App: label, Error: strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "statebackend: ", "")), " "),
		})
		return nil
	}
	if uncountable != nil {
		return fail(uncountable)
	}
	b, err := statebackend.Open(dialectorFor(u, readExisting), statebackend.WithReadOnly(),
		statebackend.WithAppID(appID), statebackend.WithLogger(c.log))
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	counts, err := b.CountInvocations(ctx, state.InvocationFilter{}, byTask)
	if err != nil {
		return fail(err)
	}
	for _, n := range counts {
		row := statusCount{App: label, Status: string(n.Status), Count: n.Count}
		if byTask {
			task := taskKey(n.Task)
			row.Task = &task
		}
		rep.InvocationCounts = append(rep.InvocationCounts, row)
	}
	return nil
}

// appIDOf returns the id of the app whose tables have prefix: "" for the
// default app's, else the id of the app info that matches.
func appIDOf(prefix string, infos map[string]statebackend.AppInfo, maxIdentifier int) (string, bool) {
	if prefix == "" {
		return "", true
	}
	for id := range infos {
		if t, err := entities.NewTables(id, maxIdentifier); err == nil && t.Prefix() == prefix {
			return id, true
		}
	}
	return "", false
}

// schemaVersion returns the schema version of appID, with what an operator
// should do about it, or nil when it cannot be read.
func (c *cli) schemaVersion(ctx context.Context, u dbURL, appID string) *string {
	m, err := c.openMigrator(u, appID, readExisting)
	if err != nil {
		c.log.Debug("read the schema version", "err", err)
		return nil
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		c.log.Debug("read the schema version", "err", err)
		return nil
	}
	v := describeVersion(st)
	return &v
}

// describeVersion says what version st is at and whether it is current.
func describeVersion(st migrations.Status) string {
	v := strconv.Itoa(st.Version)
	switch {
	case st.Version == 0:
		return "none (the app has no tables)"
	case !st.Recorded:
		v += " (created by v0.1.0, not yet recorded)"
	}
	switch {
	case st.Version < st.Latest:
		v += fmt.Sprintf(", %d pending: run statebackend migrate", st.Latest-st.Version)
	case st.Version > st.Latest:
		v += fmt.Sprintf(", newer than this build's %d", st.Latest)
	default:
		v += " (current)"
	}
	return v
}

// tableSets groups the state tables among names by app prefix ("" for the
// default app); other tables are left out.
func tableSets(names []string) map[string][]string {
	base, _ := entities.NewTables("", 0)
	sets := map[string][]string{}
	for _, name := range names {
		for _, b := range base.Names() {
			prefix, ok := strings.CutSuffix(name, b)
			if ok && (prefix == "" || strings.HasSuffix(prefix, "__")) {
				sets[prefix] = append(sets[prefix], name)
			}
		}
	}
	for p := range sets {
		// In migration order, as entities lists them.
		t := tablesWithPrefix(p, base)
		sets[p] = slices.DeleteFunc(t, func(n string) bool { return !slices.Contains(sets[p], n) })
	}
	return sets
}

func tablesWithPrefix(prefix string, base entities.Tables) []string {
	var out []string
	for _, b := range base.Names() {
		out = append(out, prefix+b)
	}
	return out
}

// appLabel names the app whose tables have prefix: by its app id when an
// app info matches the prefix, else by the prefix.
func appLabel(prefix string, infos map[string]statebackend.AppInfo, maxIdentifier int) string {
	if prefix == "" {
		return "(default app)"
	}
	if id, ok := appIDOf(prefix, infos, maxIdentifier); ok {
		return id
	}
	return strings.TrimSuffix(prefix, "__") + " (prefix)"
}

// countRows counts the rows of table.
func countRows(ctx context.Context, db *gorm.DB, table string) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Table(table).Count(&n).Error
	return n, err
}
