package monitor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/state"
)

// TestFollowRestartsAfterAnExpiredCursor starts follow from a cursor a
// purge expired: it signals a change, goes on from the newest change,
// and signals the next write.
func TestFollowRestartsAfterAnExpiredCursor(t *testing.T) {
	t.Parallel()
	b := memorybackend.NewStore().Open("app")
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	if err := b.SetResult(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var expired state.ChangeCursor
	for ch, err := range b.Watch(ctx, state.WatchRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		expired = ch.Cursor
		break
	}
	for _, id := range []state.InvocationID{"b", "c"} {
		if err := b.SetResult(ctx, id, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Purge(ctx); err != nil {
		t.Fatal(err)
	}

	h, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := h.(*server)
	changed := make(chan struct{}, 1)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.follow(fctx, state.ChangeFilter{}, expired, changed) }()

	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("%s: follow ended with %v", what, err)
		case <-time.After(poll.Timeout):
			t.Fatalf("%s: no signal within %v", what, poll.Timeout)
		}
	}
	wait("the expired cursor")
	if err := b.SetResult(ctx, "d", []byte("1")); err != nil {
		t.Fatal(err)
	}
	wait("a write after the restart")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("follow ended with %v, want context.Canceled", err)
	}
}
