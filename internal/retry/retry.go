// Package retry decides whether a failed database call is tried again,
// and after what pause: the backend's one retry policy, shared by calls,
// the group committer and opening.
package retry

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/taskstate/statebackend/dialect"
)

// Retry budgets.
const (
	// MaxAttempts bounds how often an operation is tried on a transient
	// error other than dialect.TransientBusy (deadlocks, serialization
	// failures). Certification conflicts between the nodes of a Galera cluster under
	// heavy contention took up to 10 attempts (TestGaleraContention); the
	// backoff between attempts doubles from 5 ms to 1 s, so the last
	// attempt comes at most about 8 s after the first, or at the caller's
	// deadline.
	MaxAttempts = 16
	// LockWait bounds how long a call without a deadline waits for a lock
	// held by another connection (dialect.TransientBusy errors). It
	// replaces the long busy timeout SQLite used to wait in, where no
	// context could reach it.
	LockWait = time.Minute
	// busyPause bounds the pause between two attempts to take a lock; the
	// database's own busy timeout waits between them too.
	busyPause = 8 * time.Millisecond
)

// Policy decides, attempt after attempt of one operation, whether a
// failed attempt is tried again and after what pause.
type Policy struct {
	start    time.Time
	attempts int // failed attempts on errors other than dialect.TransientBusy
	backoff  time.Duration
}

// New returns the policy of one operation, starting now.
func New() Policy {
	return Policy{start: time.Now(), backoff: 5 * time.Millisecond}
}

// Next returns the pause before the next attempt after an error that
// Dialect.Transient classified as reason, and false when the error is
// final: not transient, out of attempts, or out of LockWait when the
// caller has no deadline (with one, the caller's context ends the wait).
func (p *Policy) Next(reason string, deadline bool) (time.Duration, bool) {
	if reason == "" {
		return 0, false
	}
	if reason == dialect.TransientBusy {
		if !deadline && time.Since(p.start) >= LockWait {
			return 0, false
		}
		// Jittered, so processes that found the lock taken at once do not
		// retry in lockstep.
		return busyPause/4 + rand.N(busyPause*3/4), true
	}
	p.attempts++
	if p.attempts >= MaxAttempts {
		return 0, false
	}
	// Half the backoff plus a random part: writers that conflicted retry
	// at different times instead of conflicting again.
	pause := p.backoff/2 + rand.N(p.backoff/2+1)
	p.backoff = min(p.backoff*2, time.Second)
	return pause, true
}

// Sleep pauses for d, or until ctx ends; it reports whether the pause
// ran its course.
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Done() == nil {
		time.Sleep(d)
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
