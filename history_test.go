package statebackend_test

import (
	"context"
	"path/filepath"
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
