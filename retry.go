package statebackend

import (
	"context"
	"math/rand/v2"
	"time"
)

// TransientBusy is the reason Dialect.Transient gives for a lock another
// connection holds, which the database refused to wait for any longer
// (SQLite's SQLITE_BUSY once its short busy timeout has passed). The
// backend retries such errors until the call's context ends, or for
// lockWait when the context has no deadline, rather than a fixed number
// of times: waiting for the lock is the whole point, and only the context
// knows how long the caller can wait.
const TransientBusy = "busy"

// Retry budgets.
const (
	// maxAttempts bounds how often an operation is tried on a transient
	// error other than TransientBusy (deadlocks, serialization failures).
	// Certification conflicts between the nodes of a Galera cluster under
	// heavy contention took up to 10 attempts (TestGaleraContention); the
	// backoff between attempts doubles from 5 ms to 1 s, so the last
	// attempt comes at most about 8 s after the first, or at the caller's
	// deadline.
	maxAttempts = 16
	// lockWait bounds how long a call without a deadline waits for a lock
	// held by another connection (TransientBusy errors). It replaces the
	// long busy timeout SQLite used to wait in, where no context could
	// reach it.
	lockWait = time.Minute
	// busyPause bounds the pause between two attempts to take a lock; the
	// database's own busy timeout waits between them too.
	busyPause = 8 * time.Millisecond
)

// retryPolicy decides, attempt after attempt of one operation, whether a
// failed attempt is tried again and after what pause.
type retryPolicy struct {
	start    time.Time
	attempts int // failed attempts on errors other than TransientBusy
	backoff  time.Duration
}

func newRetryPolicy() retryPolicy {
	return retryPolicy{start: time.Now(), backoff: 5 * time.Millisecond}
}

// next returns the pause before the next attempt after an error that
// Dialect.Transient classified as reason, and false when the error is
// final: not transient, out of attempts, or out of lockWait when the
// caller has no deadline (with one, the caller's context ends the wait).
func (p *retryPolicy) next(reason string, deadline bool) (time.Duration, bool) {
	if reason == "" {
		return 0, false
	}
	if reason == TransientBusy {
		if !deadline && time.Since(p.start) >= lockWait {
			return 0, false
		}
		// Jittered, so processes that found the lock taken at once do not
		// retry in lockstep.
		return busyPause/4 + rand.N(busyPause*3/4), true
	}
	p.attempts++
	if p.attempts >= maxAttempts {
		return 0, false
	}
	// Half the backoff plus a random part: writers that conflicted retry
	// at different times instead of conflicting again.
	pause := p.backoff/2 + rand.N(p.backoff/2+1)
	p.backoff = min(p.backoff*2, time.Second)
	return pause, true
}

// sleep pauses for d, or until ctx ends; it reports whether the pause
// ran its course.
func sleep(ctx context.Context, d time.Duration) bool {
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
