package monitor_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/taskstate/statebackend/monitor"
	"github.com/taskstate/statebackend/state"
)

var (
	// nextLink is the pager's link to the next page.
	nextLink = regexp.MustCompile(`<a rel="next" href="([^"]+)">`)
	// invCell is the invocation cell of a listing's row.
	invCell = regexp.MustCompile(`<td class="id inv"><a href="[./]*invocations/([^"]+)">`)
	// firstCell is the first link of a list's rows (workflow types, runs,
	// runners).
	firstCell = regexp.MustCompile(`<tr><td(?: class="id")?><a href="[./]*(?:workflows|workflow-runs|runners)/([^"]+)">`)
)

// walk follows the next-page links from start and returns what cell
// matched on each page, in order, failing t when a page does not answer
// 200 or the walk does not end.
func walk(t *testing.T, h http.Handler, start string, cell *regexp.Regexp) []string {
	t.Helper()
	var got []string
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("walk from %s: more than 100 pages", start)
		}
		r := mustGet(t, h, u.String())
		for _, m := range cell.FindAllStringSubmatch(r.body, -1) {
			v, err := url.PathUnescape(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		m := nextLink.FindStringSubmatch(r.body)
		if m == nil {
			return got
		}
		next, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		u = u.ResolveReference(next)
	}
}

// checkOnce fails t unless got holds each of want once, and nothing else.
func checkOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for g, n := range seen {
		if n > 1 {
			t.Errorf("%s: %q listed %d times", what, g, n)
		}
	}
	slices.Sort(want)
	gotSorted := slices.Sorted(maps(seen))
	if !slices.Equal(gotSorted, want) {
		t.Errorf("%s: listed %d distinct\n%q\nwant %d\n%q", what, len(gotSorted), gotSorted, len(want), want)
	}
}

func maps(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func ids(ids ...state.InvocationID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// TestPaginationWalksEveryRowOnce follows the next-page links of
// filtered listings with small pages: every invocation of the filter
// comes once.
func TestPaginationWalksEveryRowOnce(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b state.Backend, now time.Time) {
		h := newMonitor(t, b, monitor.Options{})
		var bulkAll, bulkSuccess []state.InvocationID
		for i := range bulkCount {
			bulkAll = append(bulkAll, bulk(i))
			if i%5 != 0 {
				bulkSuccess = append(bulkSuccess, bulk(i))
			}
		}
		all := append(ids(wf, sub, subChild, evilID, dotsID, step(1), step(2), step(3)), ids(bulkAll...)...)
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"limit=7", all},
			{"limit=1&workflow=wf-1", ids(wf, step(1), step(2), step(3))},
			{"limit=4&task=shop.tasks.add", append(ids(subChild, step(1), step(2), step(3)), ids(bulkAll...)...)},
			{"limit=5&status=success", append(ids(wf, step(1)), ids(bulkSuccess...)...)},
			{"limit=3&runner=proc-b", append(ids(dotsID), ids(bulkAll...)...)},
			{"limit=2&status=running&status=pending&since=1h", ids(sub, subChild, step(3), dotsID)},
			{"limit=6&task=shop.tasks.add&task=shop.flows.pipeline&before=" + url.QueryEscape(now.Add(-25*time.Minute).Format(time.RFC3339Nano)),
				append(ids(wf, step(1), step(2), subChild), ids(bulkAll[:30]...)...)}, // bulk-29 ended 25m05s ago
		} {
			got := walk(t, h, "/invocations?"+c.query, invCell)
			checkOnce(t, "/invocations?"+c.query, got, c.want)
		}

		// The invocations a runner wrote, a page at a time.
		got := walk(t, h, "/runners/proc-b?limit=4", invCell)
		checkOnce(t, "/runners/proc-b", got, append(ids(dotsID), ids(bulkAll...)...))

		// Lists the contract returns whole, paged by key.
		checkOnce(t, "/workflows", walk(t, h, "/workflows?limit=1", firstCell), []string{taskPipeline.Key(), taskRefund.Key()})
		checkOnce(t, "/runners", walk(t, h, "/runners?limit=2", firstCell), []string{runnerA, runnerB, runnerEvil, runnerWorker, runnerThread})
		checkOnce(t, "/runners?q=proc-a", walk(t, h, "/runners?q=proc-a&limit=1", firstCell), []string{runnerA, runnerWorker, runnerThread})
	})
}

// TestPaginationManyRuns pages through more workflow runs than a page
// holds.
func TestPaginationManyRuns(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	typ := state.TaskID{Module: "m", FuncName: "f"}
	var want []string
	for i := range 23 {
		id := state.InvocationID(fmt.Sprintf("run-%03d", i))
		if err := s.StoreWorkflowRun(t.Context(), state.WorkflowIdentity{WorkflowID: id, WorkflowType: typ}); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(id))
	}
	h := newMonitor(t, s, monitor.Options{})
	checkOnce(t, "/workflows/m.f", walk(t, h, "/workflows/m.f?limit=5", firstCell), want)
}
