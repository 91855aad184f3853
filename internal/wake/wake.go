// Package wake runs a function from one goroutine whenever it has been
// signalled since the function last started: however many signals arrive,
// one run at a time, and none is lost (a signal during a run makes one
// more run).
package wake

import "context"

// Runner runs its function on signals until stopped.
type Runner struct {
	signal chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
}

// Start starts the goroutine that runs fn, with a context that ends when
// the runner stops.
func Start(fn func(ctx context.Context)) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{signal: make(chan struct{}, 1), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.signal:
				fn(ctx)
			}
		}
	}()
	return r
}

// Signal asks for a run; it never blocks. A nil runner ignores it.
func (r *Runner) Signal() {
	if r == nil {
		return
	}
	select {
	case r.signal <- struct{}{}:
	default: // a run is pending already
	}
}

// Stop ends the goroutine, waiting for a run in progress (whose context
// it cancels). A nil runner does nothing.
func (r *Runner) Stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}
