package statebackend_test

import (
	"context"
	"fmt"
	"time"
)

// pollTimeout bounds how long a test waits for another node, process or
// goroutine to reach a state: generous, because a machine running many
// tests beside CPU-bound jobs can starve a server for seconds, and a
// passing test waits only as long as it must.
const pollTimeout = 2 * time.Minute

// pollInterval is the pause between two checks of poll.
const pollInterval = 10 * time.Millisecond

// poll calls check until it returns nil, and returns nil then. When ctx
// ends or pollTimeout passes first, it returns an error naming what was
// awaited, wrapping the context's error, with check's last error.
func poll(ctx context.Context, what string, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w; last check: %v", what, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}
