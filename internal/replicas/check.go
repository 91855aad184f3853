package replicas

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/plugin/dbresolver"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retry"
)

// How a backend knows how far behind its replicas are, without trusting any
// server's clock: every check reads the primary's replication position P
// at clock time t (the backend's monotonic clock), and keeps (t, P) as a
// sample. Every transaction committed before t lies at or before P. When a
// replica, read after that, has replayed position R >= P, it has every
// transaction committed before t: the replica "covers" t. The latest
// covered sample bounds the replica's staleness at any later moment, and
// a replica covering a time after a write has that write.

// maxReplicaSamples bounds the samples kept; they span 2*MaxLag, so that a
// lag a little past MaxLag can still be measured.
const maxReplicaSamples = 64

// sample is the primary's position at a clock time.
type sample struct {
	at  int64
	pos int64
}

// Set is a store's read replicas and what it knows of them. A nil *Set
// (no replicas) routes every read to the primary.
type Set struct {
	repl     dialect.Replication
	primary  *sql.DB
	settings Settings
	clock    *Clock
	policy   dbresolver.Policy
	log      *slog.Logger
	replicas []*replica

	// checkMu serializes checks (the periodic ones and Statuses) and
	// guards samples.
	checkMu sync.Mutex
	samples []sample

	stop context.CancelFunc
	done chan struct{} // closed when the checking goroutine has returned
}

// replica is one read replica.
type replica struct {
	index int
	db    *sql.DB

	// covered is the latest clock time the replica is known to cover, -1
	// for none; it only grows.
	covered atomic.Int64
	// failed is set when a check or a read fails on the replica, and
	// cleared by the next check it answers.
	failed atomic.Bool
	reads  atomic.Int64

	mu     sync.Mutex // guards what a check last found
	err    error
	at     int64 // clock time of the last check; 0 before the first
	lag    time.Duration
	behind int64
	state  string // "serving", "lagging" or "unavailable"; "" before the first check
}

// start runs the periodic checks until close.
func (s *Set) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.settings.CheckInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.check(ctx, 0)
			}
		}
	}()
}

// Close stops the checks and closes the replicas' pools.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.stop()
	<-s.done
	var errs []error
	for _, r := range s.replicas {
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}

// Wrote records that a write of the store has returned.
func (s *Set) Wrote() {
	if s != nil {
		s.clock.wrote()
	}
}

// check samples the primary's position, then reads each replica's. With
// wait > 0 it waits up to wait for a replica behind the new sample to reach
// it (polling), so that a replica keeping up covers the moment of the check.
func (s *Set) check(ctx context.Context, wait time.Duration) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	at := s.clock.now()
	qctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	pos, err := s.repl.PrimaryPosition(qctx, s.primary)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("read replicas: cannot read the primary's replication position; replicas keep their last status", "err", err)
		}
		return
	}
	s.addSample(sample{at: at, pos: pos})
	deadline := at + int64(wait)
	for _, r := range s.replicas {
		s.checkReplica(ctx, r, pos, deadline)
	}
}

// addSample keeps x and drops samples older than 2*MaxLag. A sample closer
// to the one before it than the span allows is replaced by the next: the
// latest always stays (it is what a caught-up replica covers), and the
// others lie at least 2*MaxLag/(maxReplicaSamples-2) apart, so there are at
// most maxReplicaSamples.
func (s *Set) addSample(x sample) {
	span := 2 * int64(s.settings.MaxLag)
	keep := s.samples[:0]
	for _, old := range s.samples {
		if x.at-old.at <= span {
			keep = append(keep, old)
		}
	}
	s.samples = keep
	if n := len(s.samples); n >= 2 && s.samples[n-1].at-s.samples[n-2].at < span/(maxReplicaSamples-2) {
		s.samples[n-1] = x
		return
	}
	s.samples = append(s.samples, x)
}

// checkReplica reads r's position and updates what the backend knows of it.
func (s *Set) checkReplica(ctx context.Context, r *replica, primaryPos, deadline int64) {
	poll := time.Millisecond
	for {
		qctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
		pos, err := s.repl.ReplicaPosition(qctx, r.db)
		cancel()
		now := s.clock.now()
		if err != nil {
			if ctx.Err() == nil {
				// A replica back from an outage may have been rebuilt
				// from an older copy: it must cover anew.
				r.failed.Store(true)
				r.covered.Store(-1)
				s.record(r, now, err, 0, 0)
			}
			return
		}
		if pos < primaryPos && now < deadline && retry.Sleep(ctx, poll) {
			poll = min(2*poll, 20*time.Millisecond)
			continue
		}
		// The latest sample the replica has reached.
		covered := int64(-1)
		for i := len(s.samples) - 1; i >= 0; i-- {
			if s.samples[i].pos <= pos {
				covered = s.samples[i].at
				break
			}
		}
		for {
			old := r.covered.Load()
			if covered <= old || r.covered.CompareAndSwap(old, covered) {
				break
			}
		}
		covered = r.covered.Load()
		var lag time.Duration
		if covered >= 0 {
			lag = time.Duration(now - covered)
		} else if len(s.samples) > 0 {
			lag = time.Duration(now - s.samples[0].at)
		}
		r.failed.Store(false)
		s.record(r, now, nil, lag, max(primaryPos-pos, 0))
		return
	}
}

// record stores what a check found of r, and logs a change of state.
func (s *Set) record(r *replica, at int64, err error, lag time.Duration, behind int64) {
	state := "serving"
	switch {
	case err != nil:
		state = "unavailable"
	case !s.serving(r, at):
		state = "lagging"
	}
	r.mu.Lock()
	r.err, r.at, r.lag, r.behind = err, at, lag, behind
	prev := r.state
	r.state = state
	r.mu.Unlock()
	if state == prev {
		return
	}
	switch state {
	case "unavailable":
		s.log.Warn("read replicas: replica unavailable; its reads go to the primary", "replica", r.index, "err", err)
	case "lagging":
		s.log.Warn("read replicas: replica behind the maximum lag; its reads go to the primary",
			"replica", r.index, "lag", lag, "max_lag", s.settings.MaxLag, "behind", behind)
	default:
		s.log.Info("read replicas: replica serving reads", "replica", r.index, "lag", lag)
	}
}

// readFailed takes r out of service until its next check, after a read on
// it failed with err.
func (s *Set) readFailed(r *replica, o op.Op, err error) {
	if r.failed.Swap(true) {
		return
	}
	r.mu.Lock()
	r.err, r.state = err, "unavailable"
	r.mu.Unlock()
	s.log.Warn("read replicas: read failed on a replica; reading from the primary", "operation", o.String(), "replica", r.index, "err", err)
}

// Statuses checks the replicas now, under ctx, and returns what the store
// knows of them, in the order they were given to Open.
func (s *Set) Statuses(ctx context.Context) []Status {
	s.check(ctx, 0)
	now := s.clock.now()
	out := make([]Status, len(s.replicas))
	for i, r := range s.replicas {
		r.mu.Lock()
		out[i] = Status{Replica: r.index, Err: r.err, Lag: r.lag, Behind: r.behind}
		if r.at != 0 {
			out[i].CheckedAt = s.clock.wall(r.at)
		}
		r.mu.Unlock()
		out[i].Serving = s.serving(r, now)
		out[i].Reads = r.reads.Load()
	}
	return out
}
