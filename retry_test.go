package statebackend

import (
	"testing"
	"time"
)

// TestRetryPolicy checks the budgets: a busy lock is retried past
// maxAttempts while the caller has a deadline, for lockWait without one;
// other transient errors maxAttempts times; other errors never.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	p := newRetryPolicy()
	for i := range 10 * maxAttempts {
		pause, ok := p.next(TransientBusy, true)
		if !ok || pause <= 0 || pause > busyPause {
			t.Fatalf("busy attempt %d with a deadline: pause %v, retry %v", i, pause, ok)
		}
	}
	p.start = time.Now().Add(-lockWait + time.Minute)
	if _, ok := p.next(TransientBusy, false); !ok {
		t.Error("busy without a deadline, within lockWait: not retried")
	}
	p.start = time.Now().Add(-lockWait)
	if _, ok := p.next(TransientBusy, false); ok {
		t.Error("busy without a deadline, past lockWait: retried")
	}
	if _, ok := p.next(TransientBusy, true); !ok {
		t.Error("busy with a deadline, past lockWait: not retried (the deadline decides)")
	}

	p = newRetryPolicy()
	for i := 1; i < maxAttempts; i++ {
		if _, ok := p.next("deadlock", true); !ok {
			t.Fatalf("deadlock attempt %d: not retried", i)
		}
	}
	if _, ok := p.next("deadlock", true); ok {
		t.Errorf("deadlock retried past %d attempts", maxAttempts)
	}
	p = newRetryPolicy()
	if _, ok := p.next("", true); ok {
		t.Error("an error that is not transient was retried")
	}
}
