package monitor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/state"
)

// gatedCounts is a memory backend whose CountInvocations waits for gate
// while it is not nil: a count that takes as long as a test wants.
type gatedCounts struct {
	*memorybackend.Backend
	gate chan chan struct{}
}

func (b gatedCounts) CountInvocations(ctx context.Context, f state.InvocationFilter, byTask bool) ([]state.StatusCount, error) {
	select {
	case g := <-b.gate:
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	default:
	}
	return b.Backend.CountInvocations(ctx, f, byTask)
}

// TestOverviewCounts checks how the overview reads its counts: current
// after every change when counting is quick; when it is slow, the counts
// it has with their age, or "counting", and a reload; and no count read
// again while nothing changed.
func TestOverviewCounts(t *testing.T) {
	t.Parallel()
	b := gatedCounts{memorybackend.NewStore().Open("app"), make(chan chan struct{}, 1)}
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	h, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC()
	add := func(id state.InvocationID) {
		t.Helper()
		if err := b.AddHistory(ctx, []state.InvocationID{id}, state.InvocationHistory{Timestamp: at,
			StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: at}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /: %d", rec.Code)
		}
		return rec.Body.String()
	}
	want := func(page string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(page, p) {
				t.Fatalf("no %q in the overview", p)
			}
		}
	}
	reload := `data-reload-after="2000"`
	// Quick counts are current after each change.
	add("a")
	want(get(), `<p class="total">1 invocations</p>`)
	add("b")
	page := get()
	want(page, `<p class="total">2 invocations</p>`)
	if strings.Contains(page, reload) {
		t.Fatal("current counts ask for a reload")
	}
	// Nothing changed: the counts are not read again (a read would wait
	// for a gate nobody opens).
	gate := make(chan struct{})
	b.gate <- gate
	want(get(), `<p class="total">2 invocations</p>`)
	// A change, and a slow count: the older counts, their age, a reload.
	add("c")
	want(get(), `<p class="total">2 invocations <span class="muted">· counted `, "ago, counting again</span>", reload,
		`<noscript><meta http-equiv="refresh" content="2"></noscript>`)
	close(gate)
	if err := poll.Until(ctx, "the new count", func(context.Context) error {
		if !strings.Contains(get(), `<p class="total">3 invocations</p>`) {
			return errors.New("not shown yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A monitor without counts yet, and a count slower than the first
	// wait: "counting", and a reload.
	h, err = New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate = make(chan struct{})
	b.gate <- gate
	want(get(), "Counting the invocations", reload)
	close(gate)
	if err := poll.Until(ctx, "the first count", func(context.Context) error {
		if !strings.Contains(get(), `<p class="total">3 invocations</p>`) {
			return errors.New("not shown yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
