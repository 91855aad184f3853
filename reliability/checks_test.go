package reliability_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskstate/statebackend"
)

// Checks shared by the tests: what a scan of a time range must look like
// and how histories compare.

// scanHistory reads the history in [lo, hi] and checks it: in range,
// ascending by timestamp, each record exactly as written and seen once, and
// every record of prev (an earlier scan) present. It returns the records
// seen.
func scanHistory(ctx context.Context, b statebackend.Backend, cfg mpConfig, lo, hi time.Time, batch int, prev map[string]bool) (map[string]bool, error) {
	seen := map[string]bool{}
	var last time.Time
	for recs, err := range b.HistoryInTimeRange(ctx, lo, hi, batch) {
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 || len(recs) > batch {
			return nil, fmt.Errorf("batch of %d records, batch size %d", len(recs), batch)
		}
		for _, h := range recs {
			if h.Timestamp.Before(lo) || h.Timestamp.After(hi) {
				return nil, fmt.Errorf("record at %v outside [%v, %v]", h.Timestamp, lo, hi)
			}
			if h.Timestamp.Before(last) {
				return nil, fmt.Errorf("record at %v after one at %v", h.Timestamp, last)
			}
			last = h.Timestamp
			key := string(h.InvocationID) + "/" + string(h.StatusRecord.Status)
			if seen[key] {
				return nil, fmt.Errorf("record %s seen twice in one scan", key)
			}
			seen[key] = true
			want, err := cfg.historyOf(h.InvocationID)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(want, func(w statebackend.InvocationHistory) bool { return w.StatusRecord.Status == h.StatusRecord.Status })
			if i < 0 || !historyEqual([]statebackend.InvocationHistory{h}, want[i:i+1]) {
				return nil, fmt.Errorf("record %s reads %+v", key, h)
			}
		}
	}
	for key := range prev {
		if !seen[key] {
			return nil, fmt.Errorf("record %s, seen by the previous scan, is missing", key)
		}
	}
	return seen, nil
}

// scanIDs reads the invocation ids with history in [lo, hi] and checks they
// ascend strictly and include every id of prev (an earlier scan).
func scanIDs(ctx context.Context, b statebackend.Backend, lo, hi time.Time, batch int, prev map[statebackend.InvocationID]bool) (map[statebackend.InvocationID]bool, error) {
	seen := map[statebackend.InvocationID]bool{}
	var last statebackend.InvocationID
	for ids, err := range b.InvocationIDsInTimeRange(ctx, lo, hi, batch) {
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 || len(ids) > batch {
			return nil, fmt.Errorf("batch of %d ids, batch size %d", len(ids), batch)
		}
		for _, id := range ids {
			if len(seen) > 0 && id <= last {
				return nil, fmt.Errorf("id %q after %q", id, last)
			}
			last = id
			seen[id] = true
		}
	}
	for id := range prev {
		if !seen[id] {
			return nil, fmt.Errorf("id %s, seen by the previous scan, is missing", id)
		}
	}
	return seen, nil
}

// historyEqual compares histories field by field, timestamps as instants.
func historyEqual(a, b []statebackend.InvocationHistory) bool {
	return slices.EqualFunc(a, b, func(x, y statebackend.InvocationHistory) bool {
		return x.InvocationID == y.InvocationID && x.Timestamp.Equal(y.Timestamp) &&
			x.StatusRecord.Status == y.StatusRecord.Status && x.StatusRecord.RunnerID == y.StatusRecord.RunnerID &&
			x.StatusRecord.Timestamp.Equal(y.StatusRecord.Timestamp) &&
			x.RunnerContextID == y.RunnerContextID && x.RegisteredByInvID == y.RegisteredByInvID
	})
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func lastPrefix(lines []string, prefix string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if len(lines[i]) >= len(prefix) && lines[i][:len(prefix)] == prefix {
			return lines[i]
		}
	}
	return ""
}
