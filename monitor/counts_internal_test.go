package monitor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/state"
)

// TestOverviewReusesItsCounts checks that the overview counts at most once
// per countsTTL, says how old the counts it shows are, and counts again
// after that.
func TestOverviewReusesItsCounts(t *testing.T) {
	t.Parallel()
	b := memorybackend.NewStore().Open("app")
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	h, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := h.(*server)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	add := func(id state.InvocationID) {
		t.Helper()
		at := clock.Add(-time.Minute).UTC()
		if err := b.AddHistory(ctx, []state.InvocationID{id}, state.InvocationHistory{Timestamp: at,
			StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: at}}); err != nil {
			t.Fatal(err)
		}
	}
	overview := func(want ...string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /: %d", rec.Code)
		}
		for _, w := range want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Fatalf("GET / at %s: no %q in the page", clock.Format(time.TimeOnly), w)
			}
		}
	}
	add("a")
	overview(`<p class="total">1 invocations</p>`)
	add("b")
	clock = clock.Add(2 * time.Second)
	overview(`<p class="total">1 invocations <span class="muted">· counted 2.0s ago</span></p>`)
	clock = clock.Add(countsTTL)
	overview(`<p class="total">2 invocations</p>`)
}
