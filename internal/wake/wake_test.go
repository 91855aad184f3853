package wake

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestCoalesces checks that signals during a run make exactly one more
// run, and that a signal after the runs is not lost.
func TestCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		release := make(chan struct{})
		r := Start(func(ctx context.Context) {
			if runs.Add(1) == 1 {
				<-release // the first run waits while signals arrive
			}
		})
		defer r.Stop()
		r.Signal()
		synctest.Wait() // the first run has started and waits
		for range 10 {
			r.Signal()
		}
		close(release)
		synctest.Wait()
		if got := runs.Load(); got != 2 {
			t.Fatalf("%d runs after 11 signals, 10 of them during the first run; want 2", got)
		}
		r.Signal()
		synctest.Wait()
		if got := runs.Load(); got != 3 {
			t.Fatalf("%d runs after one more signal, want 3", got)
		}
	})
}

// TestStopCancelsARun checks that Stop cancels the context of a run in
// progress and waits for it.
func TestStopCancelsARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ended := false
		r := Start(func(ctx context.Context) {
			<-ctx.Done()
			ended = true
		})
		r.Signal()
		synctest.Wait()
		r.Stop()
		if !ended {
			t.Fatal("Stop returned before the run ended")
		}
		var nilRunner *Runner
		nilRunner.Signal()
		nilRunner.Stop()
	})
}
