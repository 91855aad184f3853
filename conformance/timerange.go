package conformance

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// timeRangeTests returns the tests of group "timerange": the batched
// iterators HistoryInTimeRange and InvocationIDsInTimeRange.
func timeRangeTests() []Test {
	tests := []Test{
		{Name: "entries_within_range", Run: testRangeWithin},
		{Name: "bounds_inclusive", Run: testRangeBoundsInclusive},
		{Name: "start_equals_end", Run: testRangeStartEqualsEnd},
		{Name: "all_statuses_of_invocation", Run: testRangeAllStatuses},
		{Name: "history_batches_ordered", Run: testRangeHistoryBatches},
		{Name: "ids_each_once_ascending", Run: testRangeIDsOnce},
		{Name: "empty_range_no_batch", Run: testRangeEmpty},
		{Name: "inserts_during_history_iteration", Run: testRangeHistoryInserts},
		{Name: "inserts_during_ids_iteration", Run: testRangeIDInserts},
		{Name: "early_break", Run: testRangeEarlyBreak},
		{Name: "invalid_arguments", Run: testRangeInvalid},
		{Name: "non_utc_bounds", Run: testRangeNonUTC},
		{Name: "selects_on_history_timestamp", Run: testRangeSelectsOnTimestamp},
		{Name: "zero_start_and_old_records", Run: testRangeZeroStart},
	}
	for i := range tests {
		tests[i].Group = "timerange"
	}
	return tests
}

// historyIn returns every record in [start, end], read in batches of n.
func historyIn(t *testing.T, b state.Backend, start, end time.Time, n int) []state.InvocationHistory {
	t.Helper()
	return flatten(drain(t, fmt.Sprintf("HistoryInTimeRange(batch %d)", n), b.HistoryInTimeRange(ctx(t), start, end, n), n))
}

// idsIn returns every id with history in [start, end], read in batches of n.
func idsIn(t *testing.T, b state.Backend, start, end time.Time, n int) []state.InvocationID {
	t.Helper()
	return flatten(drain(t, fmt.Sprintf("InvocationIDsInTimeRange(batch %d)", n), b.InvocationIDsInTimeRange(ctx(t), start, end, n), n))
}

// addEach adds each record to id in its own call, so insertion order is
// the order given, and returns them as stored.
func addEach(t *testing.T, b state.Backend, id state.InvocationID, recs ...state.InvocationHistory) []state.InvocationHistory {
	t.Helper()
	out := make([]state.InvocationHistory, len(recs))
	for i, r := range recs {
		mustAddHistory(t, b, r, id)
		out[i] = stored(id, r)
	}
	return out
}

// idList is a list of invocation ids, short for test tables.
type idList = []state.InvocationID

func testRangeWithin(t *testing.T, h Harness) {
	b := open(t, h)
	at := func(d time.Duration) state.InvocationHistory { return record(state.StatusRunning, baseTime.Add(d)) }
	addEach(t, b, "inv-before", at(-30*time.Minute))
	in10 := addEach(t, b, "inv-10", at(10*time.Minute))
	in30 := addEach(t, b, "inv-30", at(30*time.Minute))
	addEach(t, b, "inv-after", at(2*time.Hour))
	end := baseTime.Add(time.Hour)
	wantHistory(t, "HistoryInTimeRange", historyIn(t, b, baseTime, end, 10), append(in10, in30...))
	wantIDs(t, "InvocationIDsInTimeRange", idsIn(t, b, baseTime, end, 10), idList{"inv-10", "inv-30"})
}

func testRangeBoundsInclusive(t *testing.T, h Harness) {
	b := open(t, h)
	start, end := baseTime, baseTime.Add(time.Hour)
	addEach(t, b, "inv-before", record(state.StatusRunning, start.Add(-time.Microsecond)))
	atStart := addEach(t, b, "inv-start", record(state.StatusRunning, start))
	mid := addEach(t, b, "inv-mid", record(state.StatusRunning, start.Add(time.Minute)))
	atEnd := addEach(t, b, "inv-end", record(state.StatusRunning, end))
	addEach(t, b, "inv-after", record(state.StatusRunning, end.Add(time.Microsecond)))
	want := slices.Concat(atStart, mid, atEnd)
	for _, n := range []int{1, 2, 100} {
		wantHistory(t, fmt.Sprintf("HistoryInTimeRange(batch %d)", n), historyIn(t, b, start, end, n), want)
		wantIDs(t, fmt.Sprintf("InvocationIDsInTimeRange(batch %d)", n), idsIn(t, b, start, end, n), idList{"inv-end", "inv-mid", "inv-start"})
	}
}

func testRangeStartEqualsEnd(t *testing.T, h Harness) {
	b := open(t, h)
	addEach(t, b, "inv-1", record(state.StatusRegistered, baseTime.Add(-time.Microsecond)))
	want := addEach(t, b, "inv-1", record(state.StatusRunning, baseTime), record(state.StatusPending, baseTime))
	want = append(want, addEach(t, b, "inv-0", record(state.StatusRetry, baseTime))...)
	addEach(t, b, "inv-1", record(state.StatusSuccess, baseTime.Add(time.Microsecond)))
	addEach(t, b, "inv-2", record(state.StatusSuccess, baseTime.Add(time.Microsecond)))
	wantHistory(t, "HistoryInTimeRange(t, t)", historyIn(t, b, baseTime, baseTime, 2), want)
	wantIDs(t, "InvocationIDsInTimeRange(t, t)", idsIn(t, b, baseTime, baseTime, 1), idList{"inv-0", "inv-1"})
}

func testRangeAllStatuses(t *testing.T, h Harness) {
	b := open(t, h)
	running := addEach(t, b, "inv-1", record(state.StatusRunning, baseTime.Add(10*time.Minute)))
	ongoing := addEach(t, b, "inv-2", record(state.StatusRunning, baseTime.Add(15*time.Minute)))
	success := addEach(t, b, "inv-1", record(state.StatusSuccess, baseTime.Add(20*time.Minute)))
	end := baseTime.Add(time.Hour)
	wantHistory(t, "HistoryInTimeRange", historyIn(t, b, baseTime, end, 10), slices.Concat(running, ongoing, success))
	wantIDs(t, "InvocationIDsInTimeRange", idsIn(t, b, baseTime, end, 10), idList{"inv-1", "inv-2"})
}

func testRangeHistoryBatches(t *testing.T, h Harness) {
	b := open(t, h)
	sec := func(n int) time.Time { return baseTime.Add(time.Duration(n) * time.Second) }
	add := func(id state.InvocationID, s state.Status, n int) state.InvocationHistory {
		return addEach(t, b, id, record(s, sec(n)))[0]
	}
	// Inserted in this order; equal timestamps must keep it, whatever the
	// ids and statuses, also where a batch boundary splits them.
	i0 := add("inv-a", state.StatusRunning, 5)
	i1 := add("inv-a", state.StatusRegistered, 1)
	i2 := add("inv-b", state.StatusPending, 2)
	i3 := add("inv-c", state.StatusPending, 2)
	i4 := add("inv-a", state.StatusPending, 2)
	i5 := add("inv-b", state.StatusRunning, 4)
	i6 := add("inv-c", state.StatusRunning, 3)
	i7 := add("inv-a", state.StatusSuccess, 4)
	i8 := add("inv-c", state.StatusFailed, 4)
	i9 := add("inv-b", state.StatusSuccess, 6)
	want := []state.InvocationHistory{i1, i2, i3, i4, i6, i5, i7, i8, i0, i9}
	start, end := sec(0), sec(10)

	seq := b.HistoryInTimeRange(ctx(t), start, end, 3)
	for pass := range 2 { // the sequence can be iterated again
		batches := drain(t, "HistoryInTimeRange(batch 3)", seq, 3)
		if sizes := batchSizes(batches); !slices.Equal(sizes, []int{3, 3, 3, 1}) {
			t.Fatalf("pass %d: batch sizes %v, want [3 3 3 1]", pass, sizes)
		}
		wantHistory(t, fmt.Sprintf("pass %d: HistoryInTimeRange(batch 3)", pass), flatten(batches), want)
	}
	for _, n := range []int{1, 2, 4, 5, 9, 10, 11, 1000} {
		wantHistory(t, fmt.Sprintf("HistoryInTimeRange(batch %d)", n), historyIn(t, b, start, end, n), want)
	}
}

func testRangeIDsOnce(t *testing.T, h Harness) {
	b := open(t, h)
	all := idList{"inv-B", "inv-a", "inv-b", "inv-10", "inv-9", "inv-é", "inv-😀"}
	// Up to 5 records per id, interleaved over the range, plus records
	// outside it.
	for k := range 5 {
		for j, id := range all {
			if k <= j%5 {
				mustAddHistory(t, b, record(state.Statuses()[k], baseTime.Add(time.Duration(k*len(all)+j)*time.Minute)), id)
			}
		}
	}
	mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(-time.Minute)), "inv-outside", "inv-a")
	mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(2*time.Hour)), "inv-outside", "inv-b")
	want := slices.Sorted(slices.Values(all))
	for _, n := range []int{1, 2, 3, 7, 100} {
		wantIDs(t, fmt.Sprintf("InvocationIDsInTimeRange(batch %d)", n), idsIn(t, b, baseTime, baseTime.Add(time.Hour), n), want)
	}
}

func testRangeEmpty(t *testing.T, h Harness) {
	b := open(t, h)
	check := func(what string) {
		t.Helper()
		for _, n := range []int{1, 10} {
			hb := drain(t, "HistoryInTimeRange", b.HistoryInTimeRange(ctx(t), baseTime, baseTime.Add(time.Hour), n), n)
			ib := drain(t, "InvocationIDsInTimeRange", b.InvocationIDsInTimeRange(ctx(t), baseTime, baseTime.Add(time.Hour), n), n)
			if len(hb) != 0 || len(ib) != 0 {
				t.Fatalf("%s (batch %d): got %d history batches and %d id batches, want none", what, n, len(hb), len(ib))
			}
		}
	}
	check("empty backend")
	mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(-time.Microsecond)), "inv-1")
	mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(time.Hour+time.Microsecond)), "inv-1")
	check("records only outside the range")
}

// historyKey identifies a record by what AddHistory treats as the same.
func historyKey(r state.InvocationHistory) string {
	return fmt.Sprintf("%s|%d|%s", r.InvocationID, r.Timestamp.UnixMicro(), r.StatusRecord.Status)
}

func testRangeHistoryInserts(t *testing.T, h Harness) {
	b := open(t, h)
	var before []state.InvocationHistory
	for i := range 20 {
		id := state.InvocationID(fmt.Sprintf("inv-%02d", i))
		before = append(before, addEach(t, b, id, record(state.StatusRunning, baseTime.Add(time.Duration(i/2)*time.Second)))...)
	}
	seen := map[string]int{}
	var last time.Time
	n := 0
	for batch, err := range b.HistoryInTimeRange(ctx(t), baseTime.Add(-time.Hour), baseTime.Add(time.Hour), 3) {
		if err != nil {
			t.Fatalf("HistoryInTimeRange: %v", err)
		}
		for _, r := range batch {
			if r.Timestamp.Before(last) {
				t.Fatalf("record %s yielded after one at %s", historyKey(r), last)
			}
			last = r.Timestamp
			seen[historyKey(r)]++
		}
		// Before the cursor, at it and after it, from new and old ids; only
		// for a few batches, or the iteration would chase its own inserts.
		if n++; n > 3 {
			continue
		}
		tag := state.InvocationID(fmt.Sprintf("new-%02d", n))
		mustAddHistory(t, b, record(state.StatusPending, baseTime), tag+"-first", "inv-00")
		mustAddHistory(t, b, record(state.StatusRetry, last), tag+"-equal", batch[len(batch)-1].InvocationID)
		mustAddHistory(t, b, record(state.StatusPaused, last.Add(time.Second)), tag+"-after", "inv-19")
	}
	for _, r := range before {
		if c := seen[historyKey(r)]; c != 1 {
			t.Errorf("record %s, stored before the iteration began, yielded %d times, want 1", historyKey(r), c)
		}
	}
	for k, c := range seen {
		if c > 1 {
			t.Errorf("record %s yielded %d times", k, c)
		}
	}
}

func testRangeIDInserts(t *testing.T, h Harness) {
	b := open(t, h)
	var before idList
	for i := range 20 {
		id := state.InvocationID(fmt.Sprintf("id-%02d", i))
		mustAddHistory(t, b, record(state.StatusRunning, baseTime.Add(time.Duration(i)*time.Second)), id)
		before = append(before, id)
	}
	seen := map[state.InvocationID]int{}
	var last state.InvocationID
	n := 0
	for batch, err := range b.InvocationIDsInTimeRange(ctx(t), baseTime, baseTime.Add(time.Hour), 4) {
		if err != nil {
			t.Fatalf("InvocationIDsInTimeRange: %v", err)
		}
		for _, id := range batch {
			if id <= last {
				t.Fatalf("id %q yielded after %q", id, last)
			}
			last = id
			seen[id]++
		}
		// More history for ids already yielded, the last one, ids still to
		// come, and new ids before and after the cursor (for a few batches).
		if n++; n > 3 {
			continue
		}
		r := record(state.StatusPending, baseTime.Add(time.Duration(30+n)*time.Second))
		mustAddHistory(t, b, r, "id-00", last, "id-19", "id-00-new", last+"-new", "id-99-new")
	}
	for _, id := range before {
		if seen[id] != 1 {
			t.Errorf("id %q, with history before the iteration began, yielded %d times, want 1", id, seen[id])
		}
	}
}

func testRangeEarlyBreak(t *testing.T, h Harness) {
	b := open(t, h)
	var want []state.InvocationHistory
	for i := range 10 {
		want = append(want, addEach(t, b, state.InvocationID(fmt.Sprintf("inv-%d", i)), record(state.StatusRunning, baseTime.Add(time.Duration(i)*time.Second)))...)
	}
	start, end := baseTime, baseTime.Add(time.Hour)
	for i := range 20 { // enough to exhaust a pool if a break leaked connections
		for batch, err := range b.HistoryInTimeRange(ctx(t), start, end, 2+i%2) {
			if err != nil || len(batch) == 0 {
				t.Fatalf("HistoryInTimeRange: batch of %d, error %v", len(batch), err)
			}
			if i%2 == 0 {
				break
			}
			if batch[len(batch)-1].InvocationID == "inv-5" {
				break
			}
		}
		for _, err := range b.InvocationIDsInTimeRange(ctx(t), start, end, 3) {
			if err != nil {
				t.Fatalf("InvocationIDsInTimeRange: %v", err)
			}
			break
		}
	}
	want = append(want, addEach(t, b, "inv-z", record(state.StatusSuccess, end))...)
	wantHistory(t, "HistoryInTimeRange after early breaks", historyIn(t, b, start, end, 4), want)
}

// wantOneInvalid fails the test unless seq yields exactly once: a nil batch
// and an error wrapping ErrInvalidArgument.
func wantOneInvalid[T any](t *testing.T, what string, seq iter.Seq2[[]T, error]) {
	t.Helper()
	calls := 0
	for batch, err := range seq {
		calls++
		if len(batch) != 0 || !errors.Is(err, state.ErrInvalidArgument) {
			t.Fatalf("%s: yielded %d items and error %v, want no items and an error wrapping ErrInvalidArgument", what, len(batch), err)
		}
	}
	if calls != 1 {
		t.Fatalf("%s: yielded %d times, want exactly once (the error)", what, calls)
	}
}

func testRangeInvalid(t *testing.T, h Harness) {
	b := open(t, h)
	mustAddHistory(t, b, record(state.StatusRunning, baseTime), "inv-1")
	end := baseTime.Add(time.Hour)
	cases := []struct {
		name       string
		start, end time.Time
		n          int
	}{
		{"batch size 0", baseTime, end, 0},
		{"batch size -1", baseTime, end, -1},
		{"start after end", end, baseTime, 10},
		{"start 1µs after end", baseTime.Add(time.Microsecond), baseTime, 10},
	}
	for _, c := range cases {
		wantOneInvalid(t, "HistoryInTimeRange, "+c.name, b.HistoryInTimeRange(ctx(t), c.start, c.end, c.n))
		wantOneInvalid(t, "InvocationIDsInTimeRange, "+c.name, b.InvocationIDsInTimeRange(ctx(t), c.start, c.end, c.n))
	}
}

func testRangeNonUTC(t *testing.T, h Harness) {
	b := open(t, h)
	addEach(t, b, "inv-before", record(state.StatusRunning, baseTime.Add(-time.Microsecond)))
	at0 := addEach(t, b, "inv-start", record(state.StatusRunning, baseTime))
	at10 := addEach(t, b, "inv-10", record(state.StatusRunning, baseTime.Add(10*time.Minute)))
	atEnd := addEach(t, b, "inv-end", record(state.StatusRunning, baseTime.Add(time.Hour)))
	addEach(t, b, "inv-after", record(state.StatusRunning, baseTime.Add(time.Hour+time.Microsecond)))
	start := baseTime.In(time.FixedZone("UTC+5:30", 5*3600+1800))
	end := baseTime.Add(time.Hour).In(time.FixedZone("UTC-8", -8*3600))
	wantHistory(t, "HistoryInTimeRange with zoned bounds", historyIn(t, b, start, end, 2), slices.Concat(at0, at10, atEnd))
	wantIDs(t, "InvocationIDsInTimeRange with zoned bounds", idsIn(t, b, start, end, 2), idList{"inv-10", "inv-end", "inv-start"})
}

func testRangeSelectsOnTimestamp(t *testing.T, h Harness) {
	b := open(t, h)
	in := record(state.StatusRunning, baseTime.Add(time.Minute))
	in.StatusRecord.Timestamp = baseTime.Add(-time.Hour) // outside; must not matter
	out := record(state.StatusRunning, baseTime.Add(-time.Hour))
	out.StatusRecord.Timestamp = baseTime.Add(time.Minute)
	want := addEach(t, b, "inv-in", in)
	addEach(t, b, "inv-out", out)
	end := baseTime.Add(time.Hour)
	wantHistory(t, "HistoryInTimeRange", historyIn(t, b, baseTime, end, 10), want)
	wantIDs(t, "InvocationIDsInTimeRange", idsIn(t, b, baseTime, end, 10), idList{"inv-in"})
}

func testRangeZeroStart(t *testing.T, h Harness) {
	b := open(t, h)
	old := addEach(t, b, "inv-1900", record(state.StatusRunning, time.Date(1900, 6, 1, 0, 0, 0, 1000, time.UTC)))
	epoch := addEach(t, b, "inv-1969", record(state.StatusRunning, time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)))
	now := addEach(t, b, "inv-now", record(state.StatusRunning, baseTime))
	later := addEach(t, b, "inv-2100", record(state.StatusRunning, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
	wantHistory(t, "HistoryInTimeRange(zero, base)", historyIn(t, b, time.Time{}, baseTime, 2), slices.Concat(old, epoch, now))
	wantIDs(t, "InvocationIDsInTimeRange(zero, base)", idsIn(t, b, time.Time{}, baseTime, 2), idList{"inv-1900", "inv-1969", "inv-now"})
	wantHistory(t, "HistoryInTimeRange(1950, 2200)", historyIn(t, b, time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 3), slices.Concat(epoch, now, later))
}
