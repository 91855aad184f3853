package migrations_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/state"
)

// TestHistoryTriggersOfOneStatement writes many records of several
// invocations in one statement (one ImportHistory), out of timestamp
// order, with equal timestamps, runner contexts, and records of an
// invocation both before and after a stored one; then later and older
// records in further statements. The current statuses are those the
// records would leave added one by one, and the change feed holds one
// change per record in the order they were inserted. On Postgres the
// history's two insert triggers run once per statement.
func TestHistoryTriggersOfOneStatement(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		ctx := t.Context()
		app := db.newAppID(t)
		b, err := db.open(t, app)
		if err != nil {
			t.Fatal(err)
		}
		if db.kind == schematest.Postgres {
			tables := db.tables(t, app)
			for _, suffix := range []string{"status_ins", "watch_ins"} {
				name := tables.Name("History") + "_" + suffix
				var orientation string
				if err := db.raw.Raw("SELECT action_orientation FROM information_schema.triggers WHERE trigger_schema = current_schema() "+
					"AND trigger_name = ?", name).Scan(&orientation).Error; err != nil || orientation != "STATEMENT" {
					t.Fatalf("trigger %s runs per %q (%v), want STATEMENT", name, orientation, err)
				}
			}
		}

		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		rec := func(inv string, sec int, status state.Status, runner string) state.InvocationHistory {
			ts := base.Add(time.Duration(sec) * time.Second)
			return state.InvocationHistory{InvocationID: state.InvocationID(inv), Timestamp: ts, RunnerContextID: runner,
				StatusRecord: state.StatusRecord{Status: status, Timestamp: ts}}
		}
		// a: its latest record comes in the middle of the statement.
		// b: two records at one timestamp; the one given second is current.
		// c: one record. d: many, in reverse timestamp order.
		first := []state.InvocationHistory{
			rec("a", 1, state.StatusRegistered, ""),
			rec("b", 5, state.StatusPending, "r-b1"),
			rec("a", 9, state.StatusRunning, "r-a"),
			rec("c", 2, state.StatusRegistered, ""),
			rec("b", 5, state.StatusRunning, "r-b2"),
			rec("a", 4, state.StatusPending, "r-old"),
		}
		for i := 20; i > 0; i-- {
			first = append(first, rec("d", i, state.StatusRunning, fmt.Sprintf("r-d%d", i)))
		}
		imp := b.(state.HistoryImporter)
		if err := imp.ImportHistory(ctx, first); err != nil {
			t.Fatal(err)
		}
		type current struct {
			status state.Status
			sec    int
			runner string
		}
		want := map[state.InvocationID]current{
			"a": {state.StatusRunning, 9, "r-a"},
			"b": {state.StatusRunning, 5, "r-b2"},
			"c": {state.StatusRegistered, 2, ""},
			"d": {state.StatusRunning, 20, "r-d20"},
		}
		check := func(when string) {
			t.Helper()
			got := browseAll(t, b).list
			if len(got) != len(want) {
				t.Fatalf("%s: %d invocations listed, want %d: %+v", when, len(got), len(want), got)
			}
			for _, s := range got {
				w := want[s.ID]
				if s.Status.Status != w.status || !s.Status.Timestamp.Equal(base.Add(time.Duration(w.sec)*time.Second)) || s.RunnerContextID != w.runner {
					t.Fatalf("%s: %s is %s at %v (runner %q), want %s at +%ds (runner %q)", when, s.ID, s.Status.Status,
						s.Status.Timestamp, s.RunnerContextID, w.status, w.sec, w.runner)
				}
			}
		}
		check("after one statement")

		// An older record of a and a later one of c, in one statement:
		// only c changes.
		second := []state.InvocationHistory{rec("a", 3, state.StatusPending, "r-late"), rec("c", 30, state.StatusSuccess, "r-c")}
		if err := imp.ImportHistory(ctx, second); err != nil {
			t.Fatal(err)
		}
		want["c"] = current{state.StatusSuccess, 30, "r-c"}
		check("after a second statement")

		// One change per record, in the order the records were given.
		var got []state.Change
		for ch, err := range b.(state.Watcher).Watch(ctx, state.WatchRequest{}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ch)
		}
		all := append(first, second...)
		if len(got) != len(all) {
			t.Fatalf("%d changes, want one per record (%d)", len(got), len(all))
		}
		for i, h := range all {
			c := got[i]
			if c.Kind != state.ChangeHistory || c.InvocationID != h.InvocationID || c.Status != h.StatusRecord.Status || !c.Timestamp.Equal(h.Timestamp) {
				t.Fatalf("change %d is %s %s %s %v, want the record given %d-th: %s %s %v", i, c.Kind, c.InvocationID, c.Status,
					c.Timestamp, i, h.InvocationID, h.StatusRecord.Status, h.Timestamp)
			}
		}
	})
}
