package memorybackend_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/internal/leakcheck"
	"github.com/taskstate/statebackend/state"
)

// The conformance suite's watch group checks the Watcher; these check what
// it leaves to the backend: a purge expires cursors like a prune, Close
// ends a following watch, and watches leave no goroutine behind.

// watchAll runs a watch without Follow and returns its changes and error.
func watchAll(t *testing.T, b *memorybackend.Backend, after state.ChangeCursor) ([]state.Change, error) {
	t.Helper()
	var got []state.Change
	for c, err := range b.Watch(t.Context(), state.WatchRequest{After: after}) {
		if err != nil {
			return got, err
		}
		got = append(got, c)
	}
	return got, nil
}

func setResults(t *testing.T, b *memorybackend.Backend, ids ...state.InvocationID) {
	t.Helper()
	for _, id := range ids {
		if err := b.SetResult(t.Context(), id, []byte("r")); err != nil {
			t.Fatalf("SetResult(%q): %v", id, err)
		}
	}
}

func TestWatchPurge(t *testing.T) {
	b := memorybackend.NewStore().Open("app")
	setResults(t, b, "a", "b")
	before, err := watchAll(t, b, "")
	if err != nil || len(before) != 2 {
		t.Fatalf("watch before the purge: %d changes, error %v; want 2", len(before), err)
	}
	if err := b.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The purge deleted the change after the first cursor: expired. None
	// was deleted after the second: a consumer that had caught up goes on.
	if _, err := watchAll(t, b, before[0].Cursor); !errors.Is(err, state.ErrCursorExpired) {
		t.Fatalf("watch after a cursor from before the purge: error %v, want ErrCursorExpired", err)
	}
	if got, err := watchAll(t, b, before[1].Cursor); err != nil || len(got) != 0 {
		t.Fatalf("watch after the newest change purged: %d changes, error %v; want none", len(got), err)
	}
	if got, err := watchAll(t, b, ""); err != nil || len(got) != 0 {
		t.Fatalf("watch from the empty cursor after the purge: %d changes, error %v; want none", len(got), err)
	}
	latest, err := b.LatestChange(t.Context())
	if err != nil || latest != before[1].Cursor {
		t.Fatalf("LatestChange after the purge = %q, %v; want the cursor of the newest change purged, %q", latest, err, before[1].Cursor)
	}
	setResults(t, b, "c")
	for _, after := range []state.ChangeCursor{"", latest} {
		got, err := watchAll(t, b, after)
		if err != nil || len(got) != 1 || got[0].InvocationID != "c" || got[0].Cursor == before[0].Cursor || got[0].Cursor == before[1].Cursor {
			t.Fatalf("watch after %q, one result stored since the purge: %+v, error %v", after, got, err)
		}
	}
}

func TestWatchCloseEndsFollower(t *testing.T) {
	store := memorybackend.NewStore()
	b := store.Open("app")
	setResults(t, b, "a")
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var end error
	n := 0
	for _, err := range b.Watch(c, state.WatchRequest{Follow: true}) {
		if err != nil {
			end = err
			continue
		}
		if n++; n == 1 {
			// Closed from elsewhere while the watch waits for more (or
			// is about to): it ends with ErrClosed, not its context.
			go func() { _ = b.Close() }()
		}
	}
	if !errors.Is(end, state.ErrClosed) {
		t.Fatalf("following watch of a backend closed meanwhile ended with %v, want ErrClosed", end)
	}
	// The app's other backends are not closed.
	other := store.Open("app")
	if got, err := watchAll(t, other, ""); err != nil || len(got) != 1 {
		t.Fatalf("watch of another backend of the app: %d changes, error %v; want 1", len(got), err)
	}
}

func TestWatchLeavesNoGoroutine(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	b := memorybackend.NewStore().Open("app")
	setResults(t, b, "a", "b")
	for i := range 10 {
		for range b.Watch(t.Context(), state.WatchRequest{Follow: i%2 == 0}) {
			break
		}
	}
	c, cancel := context.WithCancel(t.Context())
	for _, err := range b.Watch(c, state.WatchRequest{Follow: true}) {
		if err == nil {
			cancel() // ends the watch once it waits
		}
	}
	cancel()
	leakcheck.VerifyNone(t, opt)
}
