package statebackend

import (
	"context"
	"sync"

	"gorm.io/gorm"
)

// maxGroup bounds how many writes share one transaction.
const maxGroup = 256

// committer serializes the writes of one process (SQLite has a single
// writer, and contention for it inside one process would only turn into
// busy waits) and commits writes that arrive together in one transaction:
// group commit. The first writer to find the committer idle leads: it runs
// every queued write in one transaction, then hands the lead to the oldest
// writer that queued meanwhile. Each caller returns only after its own
// write is committed (or has failed on its own: when a shared transaction
// fails, its writes are retried one by one, so one bad write cannot fail
// another).
type committer struct {
	b       *gormBackend
	mu      sync.Mutex
	queue   []*writeReq
	leading bool
}

type writeReq struct {
	ctx     context.Context
	op      string
	fn      func(*gorm.DB) error
	err     error
	done    chan struct{} // closed when the write is settled
	promote chan struct{} // closed when this writer must lead
}

// do runs fn as one write and returns its error once it is committed.
func (c *committer) do(ctx context.Context, op string, fn func(*gorm.DB) error) error {
	r := &writeReq{ctx: ctx, op: op, fn: fn, done: make(chan struct{}), promote: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, r)
	if c.leading {
		c.mu.Unlock()
		// Not on ctx: once queued, the write may already be running in a
		// shared transaction; the leader skips it if ctx is done first.
		select {
		case <-r.done:
			return r.err
		case <-r.promote:
		}
	} else {
		c.leading = true
		c.mu.Unlock()
	}
	c.lead()
	<-r.done
	return r.err
}

// lead runs one group (which includes the leader's own write, the oldest in
// the queue) and passes the lead on.
func (c *committer) lead() {
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.commit(group)

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.leading = false
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.mu.Unlock()
	close(next.promote)
}

// commit settles every write of group.
func (c *committer) commit(group []*writeReq) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.settle(err)
			continue
		}
		live = append(live, r)
	}
	c.b.tel.grouped(live)
	if len(live) == 1 {
		r := live[0]
		r.settle(c.b.run(r.ctx, r.op, r.fn))
		return
	}
	if len(live) == 0 {
		return
	}
	err := c.b.run(context.Background(), "group commit", func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error {
			for _, r := range live {
				if err := r.fn(tx.WithContext(r.ctx)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err == nil {
		for _, r := range live {
			r.settle(nil)
		}
		return
	}
	c.b.log.Debug("group commit failed, committing its writes one by one", "operation", "group commit", "writes", len(live), "err", err)
	for _, r := range live {
		r.settle(c.b.run(r.ctx, r.op, r.fn))
	}
}

func (r *writeReq) settle(err error) {
	r.err = err
	close(r.done)
}
