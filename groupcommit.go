package statebackend

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// maxGroup bounds how many writes share one transaction.
const maxGroup = 256

// committer serializes the writes of one process (SQLite has a single
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
type committer struct {
	b  *gormBackend
	mu sync.Mutex
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

func newCommitter(b *gormBackend) *committer {
	c := &committer{b: b}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// writeReq is one queued write.
type writeReq struct {
	ctx context.Context
	op  string
	fn  func(*gorm.DB) error
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

// do runs fn as one write and returns its error once it is committed, or
// the context's error as soon as ctx ends:
//
//   - a write whose context ends before it has started is skipped;
//   - a write whose context ends while its statements run inside a shared
//     transaction is rolled back with that transaction, and the others are
//     committed again without it;
//   - only a context ending during the COMMIT itself (or during the last
//     statement of a write run alone) returns the context's error for a
//     write that may be committed: the rule for any failed call.
func (c *committer) do(ctx context.Context, op string, fn func(*gorm.DB) error, history []entities.History) error {
	if err := ctx.Err(); err != nil {
		return c.b.fail(ctx, op, err)
	}
	c.mu.Lock()
	if c.b.closed.Load() {
		c.mu.Unlock()
		return c.b.fail(ctx, op, ErrClosed)
	}
	if !c.leading {
		c.leading = true
		c.mu.Unlock()
		c.b.tel.alone(ctx)
		err := c.b.run(ctx, op, fn)
		c.handOff()
		return err
	}
	r := &writeReq{ctx: ctx, op: op, fn: fn, history: history, done: make(chan struct{})}
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
		return c.b.fail(ctx, op, ctx.Err())
	}
	c.mu.Unlock()
	select {
	case <-r.done: // settled meanwhile: its outcome is known
		return r.err
	default:
		return c.b.fail(ctx, op, ctx.Err())
	}
}

// handOff ends a writer's lead: to the drain goroutine when writes queued
// up meanwhile, else to whoever writes next.
func (c *committer) handOff() {
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
func (c *committer) drain() {
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

// wait returns once the committer is idle; Close calls it after marking
// the backend closed, so queued writes are settled with ErrClosed and no
// drain goroutine outlives the backend.
func (c *committer) wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.leading {
		c.idle.Wait()
	}
}

// commit settles every write of group.
func (c *committer) commit(group []*writeReq) {
	p := newRetryPolicy()
	live := group
	for attempt := 1; ; attempt++ {
		live = c.settleGone(live)
		if attempt == 1 {
			c.b.tel.grouped(live)
		}
		switch len(live) {
		case 0:
			return
		case 1:
			r := live[0]
			r.settle(c.b.run(r.ctx, r.op, r.fn))
			return
		}
		err := c.b.db.Transaction(func(tx *gorm.DB) error {
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
		reason := c.b.dialect.Transient(err)
		if pause, ok := p.next(reason, allHaveDeadlines(live)); ok && !c.b.closed.Load() {
			c.b.retrying(context.Background(), "group commit", attempt, reason, err)
			time.Sleep(pause)
			continue
		}
		c.b.log.Debug("group commit failed, committing its writes one by one", "operation", "group commit", "writes", len(live), "err", err)
		for _, r := range live {
			r.settle(c.b.run(r.ctx, r.op, r.fn))
		}
		return
	}
}

// runGroup runs the writes of group, in order, in the transaction tx.
// Each write's statements run under its own context, so a caller's
// deadline interrupts its own write; the merged insert of several
// AddHistory writes runs under the group's, and a caller that leaves
// meanwhile is dropped from the group afterwards (see commit).
func (c *committer) runGroup(tx *gorm.DB, group []*writeReq) error {
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
			c.b.tel.merged(r.ctx, len(r.history))
		}
		if err := c.b.repo.AddHistory(tx, rows); err != nil {
			return err
		}
		c.merged.Add(int64(j - i))
		i = j
	}
	return nil
}

// settleGone settles the writes of group whose context has ended (their
// callers have left) or whose backend is closed, and returns the others.
func (c *committer) settleGone(group []*writeReq) []*writeReq {
	closed := c.b.closed.Load()
	live := group[:0:0]
	for _, r := range group {
		switch {
		case closed:
			r.settle(c.b.fail(r.ctx, r.op, ErrClosed))
		case r.ctx.Err() != nil:
			r.settle(c.b.fail(r.ctx, r.op, r.ctx.Err()))
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
