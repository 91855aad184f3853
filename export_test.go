package statebackend

import (
	"context"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/repository"
)

// Access to the GORM backend's internals for the external tests of this
// package (which may import the database packages; this one may not).

// Internals exposes the GORM backend b.
func Internals(b Backend) *gormBackend { return b.(*gormBackend) }

// HasCommitter reports whether writes go through the group committer.
func (b *gormBackend) HasCommitter() bool { return b.committer != nil }

// Write runs fn as a write, as the backend's write methods do.
func (b *gormBackend) Write(ctx context.Context, op string, fn func(*gorm.DB) error) error {
	return b.write(ctx, op, fn)
}

// CommitterDo queues fn in the group committer directly.
func (b *gormBackend) CommitterDo(ctx context.Context, op string, fn func(*gorm.DB) error) error {
	return b.committer.do(ctx, op, fn, nil)
}

// Repo returns the backend's repository.
func (b *gormBackend) Repo() repository.Repo { return b.repo }

// DB returns the backend's GORM handle.
func (b *gormBackend) DB() *gorm.DB { return b.db }

// PageQueries returns the SQL and bind variables of a history page and of
// an invocation-id page after a cursor (see repository.Repo.PageQueries).
func (b *gormBackend) PageQueries(startUs, endUs, cursorUs int64, cursorID string, limit int) (history, ids repository.Query, err error) {
	return b.repo.PageQueries(b.db, startUs, endUs, cursorUs, cursorID, limit)
}

// OperationNames returns the names telemetry gives the backend's calls.
func OperationNames() []string {
	out := make([]string, 0, numOperations)
	for _, op := range operations {
		out = append(out, op.name)
	}
	return out
}

// Queued returns how many writes wait in the group committer's queue.
func (b *gormBackend) Queued() int {
	b.committer.mu.Lock()
	defer b.committer.mu.Unlock()
	return len(b.committer.queue)
}

// Merged returns how many writes the group committer has inserted in a
// merged statement with others.
func (b *gormBackend) Merged() int64 { return b.committer.merged.Load() }

// TryLease takes the lease called name as tryLease does.
func (b *gormBackend) TryLease(ctx context.Context, name string) (release func(), ok bool, err error) {
	return b.tryLease(ctx, name)
}

// FinalRecordsQuery returns the SQL and bind variables of a prune's
// candidate page after a cursor (see repository.Repo.FinalRecordsQuery).
func (b *gormBackend) FinalRecordsQuery(status string, cutoff, mark, cursorUs int64, limit int) (repository.Query, error) {
	return b.repo.FinalRecordsQuery(b.db, status, cutoff, mark, cursorUs, limit)
}

// OldRecordsQuery returns the SQL and bind variables of the page a prune
// reads to count the units it kept (see repository.Repo.OldRecordsQuery).
func (b *gormBackend) OldRecordsQuery(cutoff, mark, cursorUs int64, limit int) (repository.Query, error) {
	return b.repo.OldRecordsQuery(b.db, cutoff, mark, cursorUs, limit)
}
