package monitor

import (
	"context"

	"github.com/taskstate/statebackend/state"
)

// countLimit is where the counts of a family or a workflow run stop: past
// it, a page says "more than 1,000" rather than read every member of a run
// of a million to count them (see state.BoundedCounter).
const countLimit = 1000

// total counts the invocations that match f: exactly when at most
// countLimit do or the backend cannot stop at a bound (exact true), or
// else countLimit, meaning more (exact false). It needs s.browser.
func (s *server) total(ctx context.Context, f state.InvocationFilter) (n int64, exact bool, err error) {
	var counts []state.StatusCount
	if s.bounded != nil {
		var complete bool
		counts, complete, err = s.bounded.CountInvocationsUpTo(ctx, f, false, countLimit)
		if err != nil || !complete {
			return countLimit, false, err
		}
	} else if counts, err = s.browser.CountInvocations(ctx, f, false); err != nil {
		return 0, false, err
	}
	for _, c := range counts {
		n += c.Count
	}
	return n, true, nil
}

// countText says a total of total: "1,234", or "more than 1,000".
func countText(n int64, exact bool) string {
	if exact {
		return formatCount(n)
	}
	return "more than " + formatCount(n)
}

// moreText says how many of a total are not among the shown: "12 more",
// "more than 1,000 in all", or "" for none.
func moreText(total int64, exact bool, shown int) string {
	switch {
	case !exact:
		return "more than " + formatCount(total) + " in all"
	case total > int64(shown):
		return formatCount(total-int64(shown)) + " more"
	}
	return ""
}
