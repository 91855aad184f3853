// Package poll waits in tests for another node, process or goroutine to
// reach a state, by checking it again until it holds, under a deadline
// generous enough for a machine starved of CPU.
package poll

import (
	"context"
	"fmt"
	"time"
)

// Timeout bounds how long Until waits: generous, because a machine running
// many tests beside CPU-bound jobs can starve a server for seconds, and a
// passing test waits only as long as it must.
const Timeout = 2 * time.Minute

// Interval is the pause between two checks.
const Interval = 10 * time.Millisecond

// Until calls check until it returns nil, and returns nil then. When ctx
// ends or Timeout passes first, it returns an error naming what was
// awaited, wrapping the context's error, with check's last error.
func Until(ctx context.Context, what string, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w; last check: %v", what, ctx.Err(), err)
		case <-time.After(Interval):
		}
	}
}
