package retry

import (
	"testing"
	"time"

	"github.com/taskstate/statebackend/dialect"
)

// TestRetryPolicy checks the budgets: a busy lock is retried past
// MaxAttempts while the caller has a deadline, for LockWait without one;
// other transient errors MaxAttempts times; other errors never.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	p := New()
	for i := range 10 * MaxAttempts {
		pause, ok := p.Next(dialect.TransientBusy, true)
		if !ok || pause <= 0 || pause > busyPause {
			t.Fatalf("busy attempt %d with a deadline: pause %v, retry %v", i, pause, ok)
		}
	}
	p.start = time.Now().Add(-LockWait + time.Minute)
	if _, ok := p.Next(dialect.TransientBusy, false); !ok {
		t.Error("busy without a deadline, within LockWait: not retried")
	}
	p.start = time.Now().Add(-LockWait)
	if _, ok := p.Next(dialect.TransientBusy, false); ok {
		t.Error("busy without a deadline, past LockWait: retried")
	}
	if _, ok := p.Next(dialect.TransientBusy, true); !ok {
		t.Error("busy with a deadline, past LockWait: not retried (the deadline decides)")
	}

	p = New()
	for i := 1; i < MaxAttempts; i++ {
		if _, ok := p.Next("deadlock", true); !ok {
			t.Fatalf("deadlock attempt %d: not retried", i)
		}
	}
	if _, ok := p.Next("deadlock", true); ok {
		t.Errorf("deadlock retried past %d attempts", MaxAttempts)
	}
	p = New()
	if _, ok := p.Next("", true); ok {
		t.Error("an error that is not transient was retried")
	}
}
