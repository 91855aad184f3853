package repository_test

import (
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/repository"
)

// TestPostgresPagePlans checks, on a 200,000-record history table, that
// Postgres serves the pages of both time-range iterators from an index: a
// history page (W6) walks the (timestamp, id) index from the cursor; an
// invocation-id page (W8) reads no table in full (over a wide range the
// best plan walks the (invocation id, timestamp, status) index in id order,
// bounding the timestamp in the index condition; over a narrow one, the
// time index). A planner hint meant for another database, or a missing
// index, would show here as a sequential scan, whose cost grows with the
// table on every page.
func TestPostgresPagePlans(t *testing.T) {
	t.Parallel()
	a := openApp(t, postgresDB(t), conformance.NewAppID(), dialect.Pool{})
	history := a.tables.Name("History")
	const start = int64(1736942400000000) // 2025-01-15T12:00:00Z in microseconds
	// 50,000 invocations with 4 records each, 10 µs apart.
	err := a.db.Exec(`INSERT INTO `+history+` (invocation_id, history_timestamp, history_status, history_json)
		SELECT 'inv-' || lpad(i::text, 6, '0'), ?::bigint + (i * 4 + k) * 10,
			(ARRAY['registered', 'pending', 'running', 'success'])[k + 1], '{}'
		FROM generate_series(0, 49999) AS i, generate_series(0, 3) AS k`, start).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Exec("ANALYZE " + history).Error; err != nil {
		t.Fatal(err)
	}
	end := start + 200000*10 - 10
	for _, tc := range []struct {
		name       string
		start, end int64
		cursorUs   int64  // where the history page starts
		cursorID   string // where the id page starts
	}{
		{"whole range, first page", start, end, start, ""},
		{"whole range, middle page", start, end, start + 100000*10, "inv-025000"},
		{"narrow range", start + 100000*10, start + 101000*10, start + 100500*10, "inv-025100"},
	} {
		hq, iq, err := a.repo.PageQueries(a.db, tc.start, tc.end, tc.cursorUs, tc.cursorID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			what, index string
			sql         string
			vars        []any
		}{
			{"history page (W6)", "_time", hq.SQL, hq.Vars},
			{"invocation-id page (W8)", "", iq.SQL, iq.Vars},
		} {
			var lines []string
			if err := a.db.Raw("EXPLAIN "+q.sql, q.vars...).Scan(&lines).Error; err != nil {
				t.Fatalf("%s, %s: explain: %v", tc.name, q.what, err)
			}
			plan := strings.Join(lines, "\n")
			t.Logf("%s, %s:\n%s", tc.name, q.what, plan)
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s, %s: the plan scans the whole table:\n%s", tc.name, q.what, plan)
			}
			if !strings.Contains(plan, "Index") || !strings.Contains(plan, q.index) {
				t.Errorf("%s, %s: the plan does not use the index %q:\n%s", tc.name, q.what, "*"+q.index, plan)
			}
		}
	}
}

// TestPrunePlans checks that a prune's candidate page reads the final
// records along the status_time index (partial on SQLite and Postgres) from
// the cursor, not the time index with a filter on the status, whose cost
// would grow with the history kept; and that the page it reads to count
// the units it kept walks the time index from the cursor. Neither may walk
// the primary key for the mark (the highest id when the prune started)
// and sort: on SQLite's plan and on Postgres's generic plan (the one pgx's
// cached statements get) over 200,000 records.
func TestPrunePlans(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var d gorm.Dialector
			if kind == "sqlite" {
				d = sqliteFile(t)
			} else {
				d = postgresDB(t)
			}
			a := openApp(t, d, conformance.NewAppID(), dialect.Pool{})
			if kind == "postgres" {
				history := a.tables.Name("History")
				err := a.db.Exec(`INSERT INTO ` + history + ` (invocation_id, history_timestamp, history_status, history_json)
					SELECT 'inv-' || lpad(i::text, 6, '0'), (i * 4 + k) * 10,
						(ARRAY['registered', 'pending', 'running', 'success'])[k + 1], '{}'
					FROM generate_series(0, 49999) AS i, generate_series(0, 3) AS k`).Error
				if err == nil {
					err = a.db.Exec("ANALYZE " + history).Error
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			final, err := a.repo.FinalRecordsQuery(a.db, "success", 1500000, 1<<40, 1000, 1000)
			if err != nil {
				t.Fatal(err)
			}
			old, err := a.repo.OldRecordsQuery(a.db, 1500000, 1<<40, 1000, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what, index string
				q           repository.Query
			}{{"candidate page", "status_time", final}, {"kept count page", "history_time", old}} {
				plan, err := queryPlan(a.db, kind, c.q)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s plan:\n%s", c.what, plan)
				if !strings.Contains(plan, c.index) || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") ||
					strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "PRIMARY KEY") || strings.Contains(plan, "pkey") {
					t.Errorf("the %s does not walk the %s index:\n%s", c.what, c.index, plan)
				}
			}
		})
	}
}

// queryPlan returns the plan of q: SQLite's, or Postgres's generic plan
// (the one pgx's cached statements get).
func queryPlan(db *gorm.DB, kind string, q repository.Query) (plan string, err error) {
	// One connection: the session setting and the prepared statement are
	// per session.
	err = db.Connection(func(conn *gorm.DB) error {
		conn = conn.Session(&gorm.Session{})
		if kind == "sqlite" {
			plan, err = explainLines(conn, "EXPLAIN QUERY PLAN "+q.SQL, q.Vars...)
			return err
		}
		if err := conn.Exec("SET plan_cache_mode = force_generic_plan").Error; err != nil {
			return err
		}
		if err := conn.Exec("PREPARE page AS " + q.SQL).Error; err != nil {
			return err
		}
		defer conn.Exec("DEALLOCATE page")
		// The values go in as literals: EXPLAIN EXECUTE takes no
		// parameters.
		var literals []string
		for _, v := range q.Vars {
			if s, ok := v.(string); ok {
				literals = append(literals, "'"+s+"'")
			} else {
				literals = append(literals, fmt.Sprint(v))
			}
		}
		plan, err = explainLines(conn, "EXPLAIN EXECUTE page("+strings.Join(literals, ", ")+")")
		return err
	})
	return plan, err
}

// explainLines runs an EXPLAIN and returns its rows, one line each.
func explainLines(conn *gorm.DB, query string, vars ...any) (string, error) {
	rows, err := conn.Raw(query, vars...).Rows()
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	return strings.Join(lines, "\n"), rows.Err()
}
