// Package groupcommit serializes the writes of one process to a database
// that takes one writer at a time (SQLite), and commits the writes that
// arrive together in one transaction: group commit. It owns the queue and
// the commit groups; what it needs of the backend (running one write with
// retries, wrapping errors, knowing the backend closed) comes through the
// Runner interface.
package groupcommit

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/retry"
	"github.com/taskstate/statebackend/internal/telemetry"
	"github.com/taskstate/statebackend/state"
)

// Func is one write: statements run on db, which may be a transaction
// shared with other writes. It must be safe to run again.
type Func = func(db *gorm.DB) error

// Runner is what the committer needs of the backend.
type Runner interface {
	// Run runs fn on its own, retrying transient errors under ctx.
	Run(ctx context.Context, o op.Op, fn Func) error
	// Fail wraps err, the reason a write of o failed, for its caller.
	Fail(ctx context.Context, o op.Op, err error) error
	// Closed reports whether the backend is closed.
	Closed() bool
	// Transient classifies err as worth a retry ("" when it is not).
	Transient(err error) string
	// Retrying reports that a shared transaction failed on a transient
	// error and runs again.
	Retrying(ctx context.Context, o op.Op, attempt int, reason string, err error)
}

// Config is what a Committer works with.
type Config struct {
	// DB opens the shared transactions.
	DB     *gorm.DB
	Runner Runner
	// InsertHistory inserts history rows in tx: the merged insert of
	// consecutive AddHistory writes (see Committer).
	InsertHistory func(tx *gorm.DB, rows []entities.History) error
	// Telemetry records commit-group sizes; nil records nothing.
	Telemetry *telemetry.Telemetry
	Log       *slog.Logger
}

// maxGroup bounds how many writes share one transaction.
const maxGroup = 256

// Committer serializes the writes of one process (SQLite has a single
// writer, and contention for it inside one process would only turn into
// busy waits) and commits writes that arrive together in one transaction:
// group commit.
//
// A writer that finds the committer idle runs its own write at once, in
// its own goroutine and under its own context: the uncontended path costs
// no hand-off. Writes that arrive meanwhile queue up; when that write is
// done, a drain goroutine takes the lead and commits the queue in groups
// until it is empty. Queued writers wait for their write or for their
// context, whichever ends first (see do), so no caller waits on another's
// write past its own deadline.
//
// Each write is settled on its own: when a shared transaction fails on a
// write's error, the writes are retried one by one, so one bad write
// cannot fail another.
//
// Inside a group, consecutive AddHistory writes become one multi-row
// insert (one per chunk of rows) instead of a statement each: with many
// writers, most of a commit group is such writes, and SQLite's cost per
// statement is what group commit does not share otherwise.
type Committer struct {
	cfg Config
	mu  sync.Mutex
	// queue holds the writes not yet taken into a group, oldest first.
	queue []*writeReq
	// leading is set while a writer or the drain goroutine holds the lead;
	// idle is signalled when it is cleared.
	leading bool
	idle    *sync.Cond
	// merged counts the writes whose rows went into a merged insert (see
	// runGroup), for tests and debugging.
	merged atomic.Int64
}

// Queued returns how many writes wait in the queue.
func (c *Committer) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Merged returns how many writes have had their rows inserted in a merged
// statement with other writes'.
func (c *Committer) Merged() int64 { return c.merged.Load() }

// New returns an idle committer.
func New(cfg Config) *Committer {
	c := &Committer{cfg: cfg}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// writeReq is one queued write.
type writeReq struct {
	ctx context.Context
	op  op.Op
	fn  Func
	// history, when not nil, holds the rows of an AddHistory write (fn
	// inserts them): a group inserts the rows of consecutive such writes
	// together (see runGroup).
	history []entities.History
	// taken is set, under committer.mu, when the drain goroutine takes the
	// write into a group: from then on it settles it.
	taken bool
	err   error
	done  chan struct{} // closed when the write is settled
}

// Do runs fn as one write and returns its error once it is committed, or
// the context's error as soon as ctx ends:
//
//   - a write whose context ends before it has started is skipped;
//   - a write whose context ends while its statements run inside a shared
//     transaction is rolled back with that transaction, and the others are
//     committed again without it;
//   - only a context ending during the COMMIT itself (or during the last
//     statement of a write run alone) returns the context's error for a
//     write that may be committed: the rule for any failed call.
//
// history, when not nil, holds the rows fn inserts, and fn does nothing
// else: the committer may insert them together with other writes' rows.
func (c *Committer) Do(ctx context.Context, o op.Op, fn Func, history []entities.History) error {
	run := c.cfg.Runner
	if err := ctx.Err(); err != nil {
		return run.Fail(ctx, o, err)
	}
	c.mu.Lock()
	if run.Closed() {
		c.mu.Unlock()
		return run.Fail(ctx, o, state.ErrClosed)
	}
	if !c.leading {
		c.leading = true
		c.mu.Unlock()
		c.cfg.Telemetry.GroupSize(1)
		c.cfg.Telemetry.InGroup(ctx, 1)
		err := run.Run(ctx, o, fn)
		c.handOff()
		return err
	}
	r := &writeReq{ctx: ctx, op: o, fn: fn, history: history, done: make(chan struct{})}
	c.queue = append(c.queue, r)
	c.mu.Unlock()

	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if !r.taken {
		i := slices.Index(c.queue, r)
		c.queue = slices.Delete(c.queue, i, i+1)
		c.mu.Unlock()
		return run.Fail(ctx, o, ctx.Err())
	}
	c.mu.Unlock()
	select {
	case <-r.done: // settled meanwhile: its outcome is known
		return r.err
	default:
		return run.Fail(ctx, o, ctx.Err())
	}
}

// handOff ends a writer's lead: to the drain goroutine when writes queued
// up meanwhile, else to whoever writes next.
func (c *Committer) handOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.leading = false
		c.idle.Broadcast()
		return
	}
	go c.drain()
}

// drain commits the queue, group by group, until it is empty, then gives
// up the lead.
func (c *Committer) drain() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxGroup)
		if n == 0 {
			// The writers of the group just settled are runnable, and
			// usually about to write again: yield once so that their next
			// writes join one group instead of the first of them running
			// alone and the others queueing behind it.
			c.mu.Unlock()
			runtime.Gosched()
			c.mu.Lock()
			n = min(len(c.queue), maxGroup)
		}
		if n == 0 {
			c.leading = false
			c.idle.Broadcast()
			c.mu.Unlock()
			return
		}
		group := c.queue[:n:n]
		c.queue = c.queue[n:]
		for _, r := range group {
			r.taken = true
		}
		c.mu.Unlock()
		c.commit(group)
	}
}

// Wait returns once the committer is idle. The backend calls it when it
// closes, after Runner.Closed turned true, so queued writes are settled
// with ErrClosed and no drain goroutine outlives the backend.
func (c *Committer) Wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.leading {
		c.idle.Wait()
	}
}

// commit settles every write of group.
func (c *Committer) commit(group []*writeReq) {
	run := c.cfg.Runner
	p := retry.New()
	live := group
	for attempt := 1; ; attempt++ {
		live = c.settleGone(live)
		if attempt == 1 && len(live) > 0 {
			c.cfg.Telemetry.GroupSize(len(live))
			for _, r := range live {
				c.cfg.Telemetry.InGroup(r.ctx, len(live))
			}
		}
		switch len(live) {
		case 0:
			return
		case 1:
			r := live[0]
			r.settle(run.Run(r.ctx, r.op, r.fn))
			return
		}
		err := c.cfg.DB.Transaction(func(tx *gorm.DB) error {
			if err := c.runGroup(tx, live); err != nil {
				return err
			}
			// A caller that left while the others ran was told its write
			// failed: the transaction must not commit it.
			for _, r := range live {
				if err := r.ctx.Err(); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, r := range live {
				r.settle(nil)
			}
			return
		}
		if gone(live) {
			continue // again, without the writes whose callers left
		}
		reason := run.Transient(err)
		if pause, ok := p.Next(reason, allHaveDeadlines(live)); ok && !run.Closed() {
			run.Retrying(context.Background(), op.GroupCommit, attempt, reason, err)
			time.Sleep(pause)
			continue
		}
		c.cfg.Log.Debug("group commit failed, committing its writes one by one", "operation", op.GroupCommit.String(), "writes", len(live), "err", err)
		for _, r := range live {
			r.settle(run.Run(r.ctx, r.op, r.fn))
		}
		return
	}
}

// runGroup runs the writes of group, in order, in the transaction tx.
// Each write's statements run under its own context, so a caller's
// deadline interrupts its own write; the merged insert of several
// AddHistory writes runs under the group's, and a caller that leaves
// meanwhile is dropped from the group afterwards (see commit).
func (c *Committer) runGroup(tx *gorm.DB, group []*writeReq) error {
	// The group's transaction is all the atomicity its writes need: a
	// write of several statements would otherwise open a savepoint.
	tx = tx.Session(&gorm.Session{DisableNestedTransaction: true})
	for i := 0; i < len(group); {
		j := i + 1
		for j < len(group) && group[i].history != nil && group[j].history != nil {
			j++
		}
		if j-i == 1 {
			if err := group[i].fn(tx.WithContext(group[i].ctx)); err != nil {
				return err
			}
			i = j
			continue
		}
		n := 0
		for _, r := range group[i:j] {
			n += len(r.history)
		}
		rows := make([]entities.History, 0, n)
		for _, r := range group[i:j] {
			rows = append(rows, r.history...)
			c.cfg.Telemetry.Merged(r.ctx, len(r.history))
		}
		if err := c.cfg.InsertHistory(tx, rows); err != nil {
			return err
		}
		c.merged.Add(int64(j - i))
		i = j
	}
	return nil
}

// settleGone settles the writes of group whose context has ended (their
// callers have left) or whose backend is closed, and returns the others.
func (c *Committer) settleGone(group []*writeReq) []*writeReq {
	run := c.cfg.Runner
	closed := run.Closed()
	live := group[:0:0]
	for _, r := range group {
		switch {
		case closed:
			r.settle(run.Fail(r.ctx, r.op, state.ErrClosed))
		case r.ctx.Err() != nil:
			r.settle(run.Fail(r.ctx, r.op, r.ctx.Err()))
		default:
			live = append(live, r)
		}
	}
	return live
}

// gone reports whether the context of a write of group has ended.
func gone(group []*writeReq) bool {
	return slices.ContainsFunc(group, func(r *writeReq) bool { return r.ctx.Err() != nil })
}

// allHaveDeadlines reports whether every write of group has a deadline:
// then waiting for a lock ends with the last of them.
func allHaveDeadlines(group []*writeReq) bool {
	return !slices.ContainsFunc(group, func(r *writeReq) bool {
		_, ok := r.ctx.Deadline()
		return !ok
	})
}

func (r *writeReq) settle(err error) {
	r.err = err
	close(r.done)
}
