package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/sqlite"
)

func (c *cli) importPynencCommand() *cobra.Command {
	var from, to string
	var batch int
	cmd := &cobra.Command{
		Use:   "import-pynenc --from PATH --to URL",
		Short: "Import a SQLite file written by pynenc's own SQLiteStateBackend",
		Long: `import-pynenc reads a SQLite file written by pynenc's own SQLiteStateBackend
(opened read-only) and writes its state through the library into the target
database, whose tables are created if missing. It verifies the result as
copy does, and like copy it can be run again after a failure or an
interruption: it writes only what the target lacks.

pynenc keeps each app's tables under a prefix made of the sanitized app id
and 8 hex digits of its SHA-256 ("myapp_3f5e2a1b__state_backend_history");
older versions kept one set of unprefixed tables ("state_backend_history")
for every app. Without --app every set in the file is imported: a prefixed
set into the app of the same id (named by its app info), the unprefixed set
into the default app. With --app only that app's set is imported, or, in a
file of the older layout, the unprefixed set into that app.

pynenc's forms are read as pynenc writes them: REAL epoch timestamps (the
JSON copy, which keeps the microseconds, is what counts), NULL optional ids,
JSON arguments, app info and history records.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "from", "to"); err != nil {
				return err
			}
			if batch < 1 {
				return usageErrorf("--batch %d: give a positive number of rows", batch)
			}
			path := strings.TrimPrefix(strings.TrimPrefix(from, "sqlite:"), "//")
			dst, err := c.parseURL("--to", to)
			if err != nil {
				return err
			}
			dst.noMemoryMap, dst.bulkWrites = true, true // as copy
			c.onInterrupt = func() string {
				return "what it imported so far is committed, not yet verified; run the same import-pynenc again to finish: " +
					"it writes only what the target lacks, then verifies"
			}
			return c.importPynenc(cmd.Context(), path, dst, batch, cmd.Flag("app").Changed)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "pynenc's SQLite file (a path, or sqlite:PATH)")
	f.StringVar(&to, "to", "", "target database URL (created if missing)")
	f.IntVar(&batch, "batch", 1000, "rows read and written per batch")
	return cmd
}

func (c *cli) importPynenc(ctx context.Context, path string, to dbURL, batch int, appGiven bool) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no pynenc SQLite file at %s: check --from", path)
	}
	db, err := sql.Open(sqlite.DriverName, "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var names []string
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		return fmt.Errorf("read %s: %w (is it a SQLite file?)", path, err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	sets := tableSets(names)
	if len(sets) == 0 {
		return fmt.Errorf("%s holds no pynenc state tables (state_backend_*): check --from", path)
	}
	plan, err := planImport(ctx, db, sets, c.appID, appGiven, path)
	if err != nil {
		return err
	}
	for _, p := range plan {
		src := &pynencSource{db: db, prefix: p.prefix}
		dst, err := c.open(ctx, to, p.appID, createMissing)
		if err != nil {
			return err
		}
		rep, err := c.transfer(ctx, src, dst, batch, false)
		_ = dst.Close()
		if err != nil {
			return fmt.Errorf("import %s into %s: %w", appName(p.appID), to.shown, err)
		}
		rep.From, rep.To = "pynenc "+path+tablesNote(p.prefix), to.shown
		if err := c.printCopy("imported", rep); err != nil {
			return err
		}
	}
	return nil
}

func tablesNote(prefix string) string {
	if prefix == "" {
		return " (unprefixed tables)"
	}
	return " (tables " + prefix + "*)"
}

// importPlan is one table set of the file and the app it goes to.
type importPlan struct {
	prefix string
	appID  string
}

// planImport decides which table sets go to which app (see the command's
// help).
func planImport(ctx context.Context, db *sql.DB, sets map[string][]string, appID string, appGiven bool, path string) ([]importPlan, error) {
	for prefix, tables := range sets {
		if len(tables) != len(keyedTables())+1 {
			return nil, fmt.Errorf("%s: the tables prefixed %q are incomplete (%d of %d): not a file of pynenc's SQLiteStateBackend",
				path, prefix, len(tables), len(keyedTables())+1)
		}
	}
	if appGiven {
		t, _ := entities.NewTables(appID, 0)
		if _, ok := sets[t.Prefix()]; ok {
			return []importPlan{{prefix: t.Prefix(), appID: appID}}, nil
		}
		if _, ok := sets[""]; ok && len(sets) == 1 {
			return []importPlan{{prefix: "", appID: appID}}, nil
		}
		var found []string
		for p := range sets {
			found = append(found, orDash(strings.TrimSuffix(p, "__")))
		}
		sort.Strings(found)
		return nil, fmt.Errorf("%s has no tables of %s (table prefixes there: %s); check --app", path, appName(appID), strings.Join(found, ", "))
	}
	var plan []importPlan
	for prefix := range sets {
		if prefix == "" {
			plan = append(plan, importPlan{prefix: "", appID: ""})
			continue
		}
		id, err := appOfPrefix(ctx, db, prefix)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		plan = append(plan, importPlan{prefix: prefix, appID: id})
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].prefix < plan[j].prefix })
	return plan, nil
}

// appOfPrefix finds the app id whose table prefix is prefix among the ids
// in that set's app info table.
func appOfPrefix(ctx context.Context, db *sql.DB, prefix string) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT app_id FROM "`+prefix+entities.AppInfoSuffix+`"`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		if t, err := entities.NewTables(id, 0); err == nil && t.Prefix() == prefix {
			return id, nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("the tables prefixed %q name no app (their app info is missing); import them with --app ID", prefix)
}

// pynencSource reads one table set of a file written by pynenc's
// SQLiteStateBackend. Its columns have the library's names (the library
// took them from pynenc); NULLs read as empty values.
type pynencSource struct {
	db     *sql.DB
	prefix string
}

func (s *pynencSource) table(model string) string {
	t, _ := entities.NewTables("", 0)
	return `"` + s.prefix + t.Name(model) + `"`
}

func (s *pynencSource) page(ctx context.Context, t *tableSpec, after []any, limit int) ([][]any, error) {
	q := "SELECT " + strings.Join(t.cols, ", ") + " FROM " + s.table(t.model)
	var args []any
	if after != nil {
		cond, a := keyAfter(t.cols[:t.nkeys], after)
		q += " WHERE " + cond
		args = a
	}
	q += " ORDER BY " + strings.Join(t.cols[:t.nkeys], ", ") + " LIMIT ?"
	rows, err := s.db.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.table(t.model), err)
	}
	return scanRows(rows, t.kinds)
}

func (s *pynencSource) count(ctx context.Context, t *tableSpec) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.table(t.model)).Scan(&n)
	return n, err
}

// countHistory counts every record: an import never resumes its history
// by timestamp (pynenc's REAL timestamps may be local times), it reads it
// whole again and writes what the target lacks.
func (s *pynencSource) countHistory(ctx context.Context, _ int64) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.table("History")).Scan(&n)
	return n, err
}

// history yields every record (fromMicros is ignored, see countHistory) in
// pynenc's timestamp order, equal timestamps in insertion (rowid) order.
// The record is taken from its JSON, which keeps the microseconds and the
// zone, under the invocation of its row.
//
// pynenc's history has no index on its timestamps, so a page ordered by
// them would sort the whole table again and an import would take time
// quadratic in the history's size. Instead SQLite sorts the row ids once,
// in one read transaction (one snapshot of the file), and each page reads
// its records by row id.
func (s *pynencSource) history(ctx context.Context, _ int64, batch int) iter.Seq2[[]statebackend.InvocationHistory, error] {
	return func(yield func([]statebackend.InvocationHistory, error) bool) {
		table := s.table("History")
		fail := func(err error) { yield(nil, fmt.Errorf("read %s: %w", table, err)) }
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			fail(err)
			return
		}
		defer func() { _ = tx.Rollback() }()
		order, err := tx.QueryContext(ctx, "SELECT rowid FROM "+table+" ORDER BY history_timestamp, rowid")
		if err != nil {
			fail(err)
			return
		}
		defer order.Close()
		ids := make([]int64, 0, min(batch, 10000))
		for {
			ids = ids[:0]
			for len(ids) < batch && order.Next() {
				var id int64
				if err := order.Scan(&id); err != nil {
					fail(err)
					return
				}
				ids = append(ids, id)
			}
			if err := order.Err(); err != nil {
				fail(err)
				return
			}
			if len(ids) == 0 {
				return
			}
			page, err := historyRecords(ctx, tx, table, ids)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) || len(ids) < batch {
				return
			}
		}
	}
}

// historyRecords reads the history records of table with the row ids ids,
// in the order of ids. The ids go as one JSON array (json_each), which no
// limit on a statement's parameters bounds.
func historyRecords(ctx context.Context, tx *sql.Tx, table string, ids []int64) ([]statebackend.InvocationHistory, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT rowid, invocation_id, history_json FROM "+table+
		" WHERE rowid IN (SELECT value FROM json_each(?))", string(list))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	at := make(map[int64]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	out := make([]statebackend.InvocationHistory, len(ids))
	found := 0
	for rows.Next() {
		var rowid int64
		var id, doc string
		if err := rows.Scan(&rowid, &id, &doc); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		i, ok := at[rowid]
		if !ok {
			return nil, fmt.Errorf("read %s: row id %d was not asked for", table, rowid)
		}
		h := &out[i]
		if err := h.UnmarshalJSON([]byte(doc)); err != nil {
			return nil, fmt.Errorf("history record of invocation %q (rowid %d): %w", id, rowid, err)
		}
		h.InvocationID = statebackend.InvocationID(id)
		found++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	if found != len(ids) {
		// Within one read transaction a row cannot vanish.
		return nil, fmt.Errorf("read %s: %d of %d records found by row id", table, found, len(ids))
	}
	return out, nil
}

var _ source = (*pynencSource)(nil)
