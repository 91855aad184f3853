package conformance

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// historyTests returns the tests of group "history": AddHistory and
// History, their order, precision and JSON form.
func historyTests() []Test {
	tests := []Test{
		{Name: "ordered_by_timestamp", Run: testHistoryOrdered},
		{Name: "records_round_trip", Run: testHistoryRoundTrip},
		{Name: "every_status", Run: testHistoryEveryStatus},
		{Name: "each_id_gets_own_copy", Run: testHistoryOwnCopy},
		{Name: "non_utc_zone", Run: testHistoryNonUTC},
		{Name: "equal_timestamps_insertion_order", Run: testHistoryInsertionOrder},
		{Name: "same_key_replaces", Run: testHistorySameKeyReplaces},
		{Name: "unknown_invocation_empty", Run: testHistoryUnknownEmpty},
		{Name: "never_upserted_ids", Run: testHistoryNeverUpserted},
		{Name: "nanoseconds_truncated", Run: testHistoryTruncated},
		{Name: "empty_id_list", Run: testHistoryEmptyIDs},
		{Name: "duplicate_ids_in_one_call", Run: testHistoryDuplicateIDs},
		{Name: "json_form", Run: testHistoryJSON},
		{Name: "many_records_order", Run: testHistoryManyRecords},
		{Name: "large_fan_out", Run: testHistoryFanOut},
	}
	for i := range tests {
		tests[i].Group = "history"
	}
	return tests
}

// at returns a record of status s at ts with every optional field set from
// tag, so records differing only in those fields can be told apart.
func at(s state.Status, ts time.Time, tag string) state.InvocationHistory {
	return state.InvocationHistory{
		Timestamp:         ts,
		StatusRecord:      state.StatusRecord{Status: s, RunnerID: "runner-" + tag, Timestamp: ts},
		RunnerContextID:   "ctx-" + tag,
		RegisteredByInvID: state.InvocationID("reg-" + tag),
	}
}

func testHistoryOrdered(t *testing.T, h Harness) {
	b := open(t, h)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r1 := record(state.StatusRegistered, t0.Add(time.Second))
	r2 := record(state.StatusRunning, t0.Add(2*time.Second))
	r3 := record(state.StatusFailed, t0.Add(3*time.Second))
	for _, r := range []state.InvocationHistory{r2, r1, r3} {
		mustAddHistory(t, b, r, "inv-1")
	}
	want := []state.InvocationHistory{stored("inv-1", r1), stored("inv-1", r2), stored("inv-1", r3)}
	wantHistory(t, "History(inv-1)", mustHistory(t, b, "inv-1"), want)
}

func testHistoryRoundTrip(t *testing.T, h Harness) {
	b := open(t, h)
	day := time.Date(2026, 1, 15, 12, 10, 0, 0, time.UTC)
	recs := []state.InvocationHistory{
		{ // no runner, no registering invocation
			Timestamp:    day.Add(time.Microsecond),
			StatusRecord: state.StatusRecord{Status: state.StatusRegistered, Timestamp: day.Add(time.Microsecond)},
		},
		{ // status record timestamp distinct from the record's
			Timestamp:         day.Add(999999 * time.Microsecond),
			StatusRecord:      state.StatusRecord{Status: state.StatusRunning, RunnerID: "runner-7", Timestamp: day.Add(999998 * time.Microsecond)},
			RunnerContextID:   "ctx-7",
			RegisteredByInvID: "inv-parent",
		},
		at(state.StatusSuccess, day.Add(time.Hour+123456*time.Microsecond), "x"),
	}
	var want []state.InvocationHistory
	for _, r := range recs {
		mustAddHistory(t, b, r, "inv-1")
		want = append(want, stored("inv-1", r))
	}
	wantHistory(t, "History(inv-1)", mustHistory(t, b, "inv-1"), want)
}

func testHistoryEveryStatus(t *testing.T, h Harness) {
	b := open(t, h)
	var want []state.InvocationHistory
	for i, s := range state.Statuses() {
		r := at(s, baseTime.Add(time.Duration(i)*time.Second), string(s))
		mustAddHistory(t, b, r, "inv-1")
		want = append(want, stored("inv-1", r))
	}
	wantHistory(t, "History(inv-1)", mustHistory(t, b, "inv-1"), want)
}

func testHistoryOwnCopy(t *testing.T, h Harness) {
	b := open(t, h)
	ids := []state.InvocationID{"inv-c", "inv-a", "inv-b"}
	r := at(state.StatusPending, baseTime, "1")
	r.InvocationID = "inv-ignored" // AddHistory ignores it
	mustAddHistory(t, b, r, ids...)
	for _, id := range ids {
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), []state.InvocationHistory{stored(id, r)})
	}
	wantHistory(t, "History(inv-ignored)", mustHistory(t, b, "inv-ignored"), nil)

	r2 := at(state.StatusRunning, baseTime.Add(time.Second), "2")
	mustAddHistory(t, b, r2, "inv-a")
	wantHistory(t, "History(inv-a)", mustHistory(t, b, "inv-a"),
		[]state.InvocationHistory{stored("inv-a", r), stored("inv-a", r2)})
	wantHistory(t, "History(inv-b)", mustHistory(t, b, "inv-b"), []state.InvocationHistory{stored("inv-b", r)})
}

func testHistoryNonUTC(t *testing.T, h Harness) {
	b := open(t, h)
	for i, zone := range []*time.Location{time.FixedZone("UTC+5:30", 5*3600+1800), time.FixedZone("UTC-8", -8*3600)} {
		id := state.InvocationID(fmt.Sprintf("inv-%d", i))
		r := at(state.StatusRunning, baseTime.In(zone), "z")
		r.StatusRecord.Timestamp = baseTime.Add(-time.Minute).In(zone)
		mustAddHistory(t, b, r, id)
		got := mustHistory(t, b, id)
		// stored converts to UTC; sameRecord requires Location() == time.UTC.
		wantHistory(t, fmt.Sprintf("History(%q) written in %s", id, zone), got, []state.InvocationHistory{stored(id, r)})
		if len(got) == 1 && !got[0].Timestamp.Equal(baseTime) {
			t.Fatalf("timestamp written in %s: got %s, want the instant %s", zone, got[0].Timestamp, baseTime)
		}
	}
}

func testHistoryInsertionOrder(t *testing.T, h Harness) {
	b := open(t, h)
	// Not alphabetical, not by status: the order the records were added.
	orders := map[state.InvocationID][]state.Status{
		"inv-1": {state.StatusRunning, state.StatusPending, state.StatusRegistered},
		"inv-2": {state.StatusPending, state.StatusRunning, state.StatusRegistered},
		"inv-3": {state.StatusSuccess, state.StatusFailed, state.StatusRetry},
	}
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		earlier := record(state.StatusRegistered, baseTime.Add(-time.Second))
		var want []state.InvocationHistory
		for _, s := range orders[id] {
			r := record(s, baseTime)
			mustAddHistory(t, b, r, id)
			want = append(want, stored(id, r))
		}
		mustAddHistory(t, b, earlier, id) // added last, returned first
		want = append([]state.InvocationHistory{stored(id, earlier)}, want...)
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), want)
	}
}

func testHistorySameKeyReplaces(t *testing.T, h Harness) {
	b := open(t, h)
	first := at(state.StatusRunning, baseTime, "first")
	second := at(state.StatusRunning, baseTime, "second")
	second.StatusRecord.Timestamp = baseTime.Add(time.Millisecond)
	other := at(state.StatusPending, baseTime, "other") // same instant, other status: a record of its own
	mustAddHistory(t, b, first, "inv-1", "inv-2")
	mustAddHistory(t, b, other, "inv-1")
	mustAddHistory(t, b, second, "inv-1")
	got := mustHistory(t, b, "inv-1")
	if len(got) != 2 {
		t.Fatalf("History(inv-1): got %d records, want 2 (running replaced, pending kept)\n%s", len(got), describeRecords(got))
	}
	for _, r := range got {
		want := stored("inv-1", other)
		if r.StatusRecord.Status == state.StatusRunning {
			want = stored("inv-1", second)
		}
		if !sameRecord(r, want) {
			t.Fatalf("History(inv-1): record\n%swant\n%s", describeRecords([]state.InvocationHistory{r}), describeRecords([]state.InvocationHistory{want}))
		}
	}
	wantHistory(t, "History(inv-2), not written again", mustHistory(t, b, "inv-2"), []state.InvocationHistory{stored("inv-2", first)})
	all := flatten(drain(t, "HistoryInTimeRange", b.HistoryInTimeRange(ctx(t), baseTime, baseTime, 10), 10))
	if len(all) != 3 {
		t.Fatalf("HistoryInTimeRange at the instant: got %d records, want 3\n%s", len(all), describeRecords(all))
	}
}

func testHistoryUnknownEmpty(t *testing.T, h Harness) {
	b := open(t, h)
	mustUpsert(t, b, topLevel("inv-1", "f", nil)) // upserted, but no history
	mustAddHistory(t, b, record(state.StatusRunning, baseTime), "inv-2")
	for _, id := range []state.InvocationID{"inv-unknown", "inv-1", "INV-2", "inv-"} {
		got, err := b.History(ctx(t), id)
		if err != nil || len(got) != 0 {
			t.Fatalf("History(%q): got %d records, error %v; want none and no error\n%s", id, len(got), err, describeRecords(got))
		}
	}
}

func testHistoryNeverUpserted(t *testing.T, h Harness) {
	b := open(t, h)
	r := record(state.StatusRegistered, baseTime)
	mustAddHistory(t, b, r, "never-1", "never-2")
	wantHistory(t, "History(never-1)", mustHistory(t, b, "never-1"), []state.InvocationHistory{stored("never-1", r)})
	_, err := b.Invocation(ctx(t), "never-1")
	wantErr(t, "Invocation(never-1) after AddHistory", err, state.ErrNotFound)
	wantIDs(t, "invocation ids after AddHistory", allIDs(t, b), nil)
}

func testHistoryTruncated(t *testing.T, h Harness) {
	b := open(t, h)
	ns := time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC)
	r := at(state.StatusRunning, ns, "1")
	r.StatusRecord.Timestamp = ns.Add(211 * time.Nanosecond) // .123457000 exactly
	mustAddHistory(t, b, r, "inv-1")
	got := mustHistory(t, b, "inv-1")
	if len(got) != 1 || got[0].Timestamp.Nanosecond() != 123456000 || got[0].StatusRecord.Timestamp.Nanosecond() != 123457000 {
		t.Fatalf("nanoseconds: got\n%swant timestamps .123456000 and .123457000", describeRecords(got))
	}
	// Same status, same microsecond: the same record.
	again := at(state.StatusRunning, ns.Add(-789*time.Nanosecond+1), "2")
	mustAddHistory(t, b, again, "inv-1")
	wantHistory(t, "History(inv-1) after a write in the same microsecond", mustHistory(t, b, "inv-1"),
		[]state.InvocationHistory{stored("inv-1", again)})
}

func testHistoryEmptyIDs(t *testing.T, h Harness) {
	b := open(t, h)
	r := record(state.StatusRunning, baseTime)
	for _, ids := range [][]state.InvocationID{nil, {}} {
		if err := b.AddHistory(ctx(t), ids, r); err != nil {
			t.Fatalf("AddHistory(%#v): %v, want no error", ids, err)
		}
	}
	got := flatten(drain(t, "HistoryInTimeRange", b.HistoryInTimeRange(ctx(t), baseTime.Add(-time.Hour), baseTime.Add(time.Hour), 10), 10))
	wantHistory(t, "history after AddHistory with no ids", got, nil)
}

func testHistoryDuplicateIDs(t *testing.T, h Harness) {
	b := open(t, h)
	r := record(state.StatusRunning, baseTime)
	mustAddHistory(t, b, r, "inv-a", "inv-b", "inv-a", "inv-a")
	for _, id := range []state.InvocationID{"inv-a", "inv-b"} {
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), []state.InvocationHistory{stored(id, r)})
	}
}

func testHistoryJSON(t *testing.T, h Harness) {
	b := open(t, h)
	r := state.InvocationHistory{
		Timestamp:         baseTime.In(time.FixedZone("CET", 3600)),
		StatusRecord:      state.StatusRecord{Status: state.StatusRunning, Timestamp: time.Date(2026, 1, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))},
		RunnerContextID:   "ctx-1",
		RegisteredByInvID: "inv-parent",
	}
	mustAddHistory(t, b, r, "inv-json")
	got := mustHistory(t, b, "inv-json")
	if len(got) != 1 {
		t.Fatalf("History(inv-json): got %d records, want 1", len(got))
	}
	data, err := json.Marshal(got[0])
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	want := `{"invocation_id":"inv-json","_timestamp":"2026-01-01T12:00:00.123456+00:00",` +
		`"status_record":{"status":"running","runner_id":null,"timestamp":"2026-01-01T12:00:00+00:00"},` +
		`"runner_context_id":"ctx-1","registered_by_inv_id":"inv-parent"}`
	if string(data) != want {
		t.Fatalf("JSON form:\n got  %s\nwant %s", data, want)
	}
	var back state.InvocationHistory
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", data, err)
	}
	wantHistory(t, "JSON round trip", []state.InvocationHistory{back}, got)
}

func testHistoryManyRecords(t *testing.T, h Harness) {
	b := open(t, h)
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := state.Statuses()
	seen := map[string]bool{}
	var added []state.InvocationHistory
	for len(added) < 60 {
		// Few distinct instants, so many records share one.
		ts := baseTime.Add(time.Duration(rng.IntN(8)) * time.Second)
		s := statuses[rng.IntN(len(statuses))]
		if key := ts.String() + string(s); !seen[key] {
			seen[key] = true
			r := at(s, ts, fmt.Sprint(len(added)))
			mustAddHistory(t, b, r, "inv-1")
			added = append(added, stored("inv-1", r))
		}
	}
	want := slices.Clone(added)
	slices.SortStableFunc(want, func(x, y state.InvocationHistory) int { return x.Timestamp.Compare(y.Timestamp) })
	wantHistory(t, "History(inv-1)", mustHistory(t, b, "inv-1"), want)
}

func testHistoryFanOut(t *testing.T, h Harness) {
	b := open(t, h)
	const n = 1200 // more rows than one statement holds in most implementations
	ids := make([]state.InvocationID, n)
	for i := range ids {
		ids[n-1-i] = state.InvocationID(fmt.Sprintf("fan-%04d", i))
	}
	r := record(state.StatusPending, baseTime)
	mustAddHistory(t, b, r, ids...)
	for _, id := range []state.InvocationID{ids[0], ids[n/2], ids[n-1]} {
		wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), []state.InvocationHistory{stored(id, r)})
	}
	got := flatten(drain(t, "InvocationIDsInTimeRange", b.InvocationIDsInTimeRange(ctx(t), baseTime, baseTime, 500), 500))
	wantIDs(t, "ids with history", got, slices.Sorted(slices.Values(ids)))
}
