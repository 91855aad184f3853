package statebackend_test

import (
	"strings"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
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
	appID := conformance.NewAppID()
	b := pgtest.Open(t, appID)
	gb := statebackend.Internals(b)
	tables, err := entities.NewTables(appID, 63)
	if err != nil {
		t.Fatal(err)
	}
	history := tables.Name("History")
	const start = int64(1736942400000000) // 2025-01-15T12:00:00Z in microseconds
	// 50,000 invocations with 4 records each, 10 µs apart.
	err = gb.DB().Exec(`INSERT INTO `+history+` (invocation_id, history_timestamp, history_status, history_json)
		SELECT 'inv-' || lpad(i::text, 6, '0'), ?::bigint + (i * 4 + k) * 10,
			(ARRAY['registered', 'pending', 'running', 'success'])[k + 1], '{}'
		FROM generate_series(0, 49999) AS i, generate_series(0, 3) AS k`, start).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := gb.DB().Exec("ANALYZE " + history).Error; err != nil {
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
		hq, iq, err := gb.PageQueries(tc.start, tc.end, tc.cursorUs, tc.cursorID, 100)
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
			if err := gb.DB().Raw("EXPLAIN "+q.sql, q.vars...).Scan(&lines).Error; err != nil {
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
