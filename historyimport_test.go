package statebackend_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
)

// TestImportHistory checks the GORM backend's state.HistoryImporter on
// every database: order kept for equal timestamps, idempotence, the last
// of repeated keys winning, and nothing written for an invalid record.
func TestImportHistory(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "import-history", testImportHistory)
}

// onEachDatabase runs fn, in parallel subtests, on a store of a new app
// (named after prefix) on SQLite, Postgres and MySQL.
func onEachDatabase(t *testing.T, prefix string, fn func(t *testing.T, b *statebackend.Store)) {
	t.Helper()
	for _, db := range []struct {
		name string
		open func(t *testing.T, app string) *statebackend.Store
	}{
		{"sqlite", func(t *testing.T, app string) *statebackend.Store {
			return sqlitetest.Open(t, sqlitetest.Path(t), app)
		}},
		{"postgres", func(t *testing.T, app string) *statebackend.Store { return pgtest.Open(t, app) }},
		{"mysql", func(t *testing.T, app string) *statebackend.Store { return mysqltest.Open(t, app) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.open(t, prefix+"-"+strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")))
		})
	}
}

func testImportHistory(t *testing.T, b *statebackend.Store) {
	ctx := context.Background()
	imp := b
	at := time.Date(2025, 1, 15, 12, 0, 0, 123456000, time.UTC)
	rec := func(id string, ts time.Time, s statebackend.Status, runner string) statebackend.InvocationHistory {
		return statebackend.InvocationHistory{
			InvocationID: statebackend.InvocationID(id), Timestamp: ts, RunnerContextID: runner,
			StatusRecord: statebackend.StatusRecord{Status: s, Timestamp: ts},
		}
	}
	// Equal timestamps, given against id and status order.
	recs := []statebackend.InvocationHistory{
		rec("inv-b", at, statebackend.StatusRunning, "r1"),
		rec("inv-a", at, statebackend.StatusRunning, "r1"),
		rec("inv-a", at, statebackend.StatusPending, "r1"),
		rec("inv-a", at.Add(time.Second), statebackend.StatusSuccess, "r1"),
	}
	if err := imp.ImportHistory(ctx, recs); err != nil {
		t.Fatal(err)
	}
	all := func() []statebackend.InvocationHistory {
		var out []statebackend.InvocationHistory
		for batch, err := range b.HistoryInTimeRange(ctx, at.Add(-time.Hour), at.Add(time.Hour), 2) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, batch...)
		}
		return out
	}
	if got := all(); !sameRecords(got, recs) {
		t.Fatalf("time range after import:\n got %v\nwant %v", got, recs)
	}
	if got, _ := b.History(ctx, "inv-a"); !sameRecords(got, recs[1:]) {
		t.Errorf("history of inv-a: %v", got)
	}

	// Again, with a changed runner and a repeated key: places kept, the
	// last document of a key wins.
	again := slices.Clone(recs)
	again[1].RunnerContextID = "r0"
	changed := rec("inv-b", at, statebackend.StatusRunning, "r2")
	again = append(again, changed)
	if err := imp.ImportHistory(ctx, again); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(again[:4])
	want[0] = changed
	if got := all(); !sameRecords(got, want) {
		t.Errorf("time range after the second import:\n got %v\nwant %v", got, want)
	}

	// An invalid record: nothing written, the record named.
	bad := []statebackend.InvocationHistory{
		rec("inv-c", at, statebackend.StatusRunning, "r1"),
		rec("inv-c", at, "sleeping", "r1"),
	}
	err := imp.ImportHistory(ctx, bad)
	if !errors.Is(err, statebackend.ErrInvalidArgument) || !strings.Contains(err.Error(), "records[1]") {
		t.Errorf("invalid record: %v", err)
	}
	if got, _ := b.History(ctx, "inv-c"); len(got) != 0 {
		t.Errorf("a failed import wrote %v", got)
	}
	if err := imp.ImportHistory(ctx, []statebackend.InvocationHistory{{Timestamp: at}}); !errors.Is(err, statebackend.ErrInvalidArgument) {
		t.Errorf("record without invocation id: %v", err)
	}
	if err := imp.ImportHistory(ctx, nil); err != nil {
		t.Errorf("no records: %v", err)
	}
}

func sameRecords(a, b []statebackend.InvocationHistory) bool {
	return slices.EqualFunc(a, b, func(x, y statebackend.InvocationHistory) bool {
		return string(x.AppendJSON(nil)) == string(y.AppendJSON(nil))
	})
}
