package statebackend_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// TestTimeRangeSubMicrosecondStart checks that a range whose start has a
// sub-microsecond part excludes a record of the same microsecond stored
// before it, as the time comparison says, and includes it from its exact
// time on.
func TestTimeRangeSubMicrosecondStart(t *testing.T) {
	t.Parallel()
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "range.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 250007000, time.UTC)
	h := statebackend.InvocationHistory{
		Timestamp:    at,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: at},
	}
	if err := b.AddHistory(ctx, []statebackend.InvocationID{"inv"}, h); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		start time.Time
		want  int
	}{
		{at, 1},
		{at.Add(-1), 1},
		{at.Add(459), 0},
	} {
		got := 0
		for batch, err := range b.HistoryInTimeRange(ctx, c.start, at.Add(time.Second), 10) {
			if err != nil {
				t.Fatal(err)
			}
			got += len(batch)
		}
		ids := 0
		for batch, err := range b.InvocationIDsInTimeRange(ctx, c.start, at.Add(time.Second), 10) {
			if err != nil {
				t.Fatal(err)
			}
			ids += len(batch)
		}
		if got != c.want || ids != c.want {
			t.Errorf("range from %s: %d records, %d ids; want %d", c.start.Format(time.RFC3339Nano), got, ids, c.want)
		}
	}
}

// TestMalformedStoredHistory checks that a stored history document that
// does not decode fails History and the time-range page holding it, naming
// the record, and leaves the pages before it alone.
func TestMalformedStoredHistory(t *testing.T) {
	t.Parallel()
	b, at := historyOfThree(t)
	ctx := context.Background()
	id, _ := setHistoryDoc(t, b, statebackend.StatusRunning, notAHistoryRecord)
	want := fmt.Sprintf("statebackend: stored history record %d is malformed: ", id)

	if _, err := b.History(ctx, "inv"); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("History: %v; want an error starting %q", err, want)
	}
	var pages int
	var last error
	for batch, err := range b.HistoryInTimeRange(ctx, at, at.Add(time.Minute), 1) {
		if err != nil {
			last = err
			break
		}
		pages++
		if len(batch) != 1 || batch[0].StatusRecord.Status != statebackend.StatusRegistered {
			t.Errorf("page %d: %+v", pages, batch)
		}
	}
	if pages != 1 || last == nil || !strings.HasPrefix(last.Error(), want) {
		t.Errorf("HistoryInTimeRange: %d pages, then %v; want 1 page, then an error starting %q", pages, last, want)
	}
	for batch, err := range b.HistoryInTimeRange(ctx, at, at.Add(time.Minute), 10) {
		if err == nil || !strings.HasPrefix(err.Error(), want) || batch != nil {
			t.Errorf("HistoryInTimeRange in one page: %d records, %v; want an error starting %q", len(batch), err, want)
		}
	}
}

// TestHistoryPageRetried checks that an attempt to read a time-range page
// after another, as a retry of the read makes, returns the page as one
// attempt does: neither the rows nor a malformed record of the attempt
// before remain.
func TestHistoryPageRetried(t *testing.T) {
	t.Parallel()
	b, at := historyOfThree(t)
	ctx := context.Background()
	in := statebackend.Inside(b)
	hi := at.Add(time.Minute)
	nothing := func() {}
	once, err := in.HistoryPageAttempts(ctx, at, hi, 2, nothing)
	if err != nil {
		t.Fatal(err)
	}
	if len(once) != 2 || once[0].StatusRecord.Status != statebackend.StatusRegistered || once[1].StatusRecord.Status != statebackend.StatusRunning {
		t.Fatalf("one attempt: %+v", once)
	}
	twice, err := in.HistoryPageAttempts(ctx, at, hi, 2, nothing, nothing)
	if err != nil || !reflect.DeepEqual(twice, once) {
		t.Errorf("two attempts: %+v, %v; want %+v", twice, err, once)
	}

	var id int64
	var doc string
	spoil := func() { id, doc = setHistoryDoc(t, b, statebackend.StatusRunning, notAHistoryRecord) }
	mend := func() { setHistoryDoc(t, b, statebackend.StatusRunning, doc) }
	mended, err := in.HistoryPageAttempts(ctx, at, hi, 2, spoil, mend)
	if err != nil || !reflect.DeepEqual(mended, once) {
		t.Errorf("an attempt on a malformed record, then one on the mended record: %+v, %v; want %+v", mended, err, once)
	}
	_, err = in.HistoryPageAttempts(ctx, at, hi, 2, nothing, spoil)
	if want := fmt.Sprintf("statebackend: stored history record %d is malformed: ", id); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("an attempt, then one on a malformed record: %v; want an error starting %q", err, want)
	}
}

// notAHistoryRecord is valid JSON, so that the database's own uses of the
// document accept it, but no history record: it lacks _timestamp.
const notAHistoryRecord = `{"invocation_id":"inv"}`

// historyOfThree returns a store on a new SQLite file holding the history
// of the invocation "inv": registered, running and success, a second
// apart from the time it returns.
func historyOfThree(t *testing.T) (*statebackend.Store, time.Time) {
	t.Helper()
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "history.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusRunning, statebackend.StatusSuccess} {
		ts := at.Add(time.Duration(i) * time.Second)
		h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: st, Timestamp: ts}}
		if err := b.AddHistory(context.Background(), []statebackend.InvocationID{"inv"}, h); err != nil {
			t.Fatal(err)
		}
	}
	return b, at
}

// setHistoryDoc replaces the stored document of the history record of
// status st, and returns the record's id and its document before.
func setHistoryDoc(t *testing.T, b *statebackend.Store, st statebackend.Status, doc string) (id int64, before string) {
	t.Helper()
	in := statebackend.Inside(b)
	table := in.Repo().Tables.Name("History")
	row := in.DB().Table(table).Select("id", "history_json").Where("history_status = ?", string(st)).Row()
	if err := row.Scan(&id, &before); err != nil {
		t.Fatal(err)
	}
	if err := in.DB().Table(table).Where("id = ?", id).Update("history_json", doc).Error; err != nil {
		t.Fatal(err)
	}
	return id, before
}

// TestMalformedStoredInvocation checks that a stored invocation whose
// arguments or task key do not decode fails Invocation and Invocations
// with an error naming it, not a retry or another invocation's data.
func TestMalformedStoredInvocation(t *testing.T) {
	t.Parallel()
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "inv.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	task := statebackend.TaskID{Module: "m", FuncName: "f"}
	inv := statebackend.Invocation{ID: "inv", CallID: statebackend.CallID{Task: task, ArgsID: "a"},
		Arguments: map[string]string{"x": "1"}, Workflow: statebackend.WorkflowIdentity{WorkflowID: "inv", WorkflowType: task}}
	if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
		t.Fatal(err)
	}
	in := statebackend.Inside(b)
	table := in.Repo().Tables.Name("Invocation")
	want := `statebackend: stored invocation "inv" is malformed: `
	for _, c := range []struct{ column, value string }{
		{"serialized_arguments", "{not json"},
		{"task_id_key", "no-dot"},
	} {
		if err := in.DB().Table(table).Where("invocation_id = ?", "inv").Update(c.column, c.value).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := b.Invocation(ctx, "inv"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: Invocation: %v; want an error starting %q", c.column, err, want)
		}
		if _, err := b.Invocations(ctx, []statebackend.InvocationID{"inv"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Invocations: %v; want an error containing %q", c.column, err, want)
		}
		if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
			t.Fatal(err)
		}
		got, err := b.Invocation(ctx, "inv")
		if err != nil || !reflect.DeepEqual(got, inv) {
			t.Errorf("%s: rewritten: %+v, %v; want %+v", c.column, got, err, inv)
		}
	}
}
