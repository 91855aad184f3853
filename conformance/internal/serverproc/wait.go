package serverproc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrExited is in the error of Wait when the process exited before the
// awaited state.
var ErrExited = errors.New("exited")

// pollInterval is how often Wait checks.
const pollInterval = 25 * time.Millisecond

// Wait calls ready until it returns nil, and fails when p exits first or
// ctx ends; what names the awaited state for the error, which carries
// ready's last error and the end of p's log.
func Wait(ctx context.Context, p *Process, what string, ready func(ctx context.Context) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s %w (%v) before %s%s", p.Name, ErrExited, p.ExitErr(), what, p.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s: not %s in time (%w); last check: %v%s", p.Name, what, ctx.Err(), err, p.Tail(30))
		case <-ticker.C:
		}
	}
}
