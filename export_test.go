package statebackend

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// Access to the store's internals for the external tests of this package
// (which may import the database packages; this one may not).

// Internals is the store s, seen from its tests.
type Internals struct{ s *Store }

// Inside returns s's internals.
func Inside(s *Store) Internals { return Internals{s} }

// HasCommitter reports whether writes go through the group committer.
func (in Internals) HasCommitter() bool { return in.s.eng.Committer() != nil }

// Write runs fn as a write of the store method named name, as the store's
// write methods do.
func (in Internals) Write(ctx context.Context, name string, fn func(*gorm.DB) error) error {
	return in.s.eng.Write(ctx, opNamed(name), fn)
}

// CommitterDo queues fn, a write of the store method named name, in the
// group committer directly.
func (in Internals) CommitterDo(ctx context.Context, name string, fn func(*gorm.DB) error) error {
	return in.s.eng.Committer().Do(ctx, opNamed(name), fn, nil)
}

// opNamed returns the store method named name; it panics on a name no
// method has, a mistake in a test.
func opNamed(name string) op.Op {
	for _, o := range op.All() {
		if o.String() == name {
			return o
		}
	}
	panic("no store method is named " + name)
}

// Repo returns the store's repository.
func (in Internals) Repo() repository.Repo { return in.s.repo }

// DB returns the store's GORM handle.
func (in Internals) DB() *gorm.DB { return in.s.eng.DB() }

// Queued returns how many writes wait in the group committer's queue.
func (in Internals) Queued() int { return in.s.eng.Committer().Queued() }

// Merged returns how many writes the group committer has inserted in a
// merged statement with others.
func (in Internals) Merged() int64 { return in.s.eng.Committer().Merged() }

// TryLease takes the lease called name, as the background pruner does on
// a database without a try-lock.
func (in Internals) TryLease(ctx context.Context, name string) (release func(), ok bool, err error) {
	return in.s.pruner.TryLease(ctx, name)
}

// HistoryPageAttempts reads the first page of HistoryInTimeRange's [lo,
// hi] in batches of size on the primary, one attempt for each function of
// before, called before its attempt, as retries of the read would; it
// returns what the last attempt read.
func (in Internals) HistoryPageAttempts(ctx context.Context, lo, hi time.Time, size int, before ...func()) ([]InvocationHistory, error) {
	p := &historyPageRead{repo: in.s.repo, lo: firstMicro(lo), hi: state.ToMicros(hi), size: size}
	db := in.s.eng.DB().WithContext(ctx)
	for _, f := range before {
		f()
		if err := p.attempt(db); err != nil {
			return nil, err
		}
	}
	if p.bad != nil {
		return nil, p.bad
	}
	return p.batch, nil
}
