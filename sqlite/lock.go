package sqlite

import (
	"context"

	"gorm.io/gorm"
)

// lock runs fn in one immediate transaction (Open's DSN makes every
// transaction BEGIN IMMEDIATE): SQLite's write lock is the lock. Other
// processes wait for it at BEGIN, up to the busy timeout, and the backend
// retries when that runs out; it is released at commit or rollback, and by
// the operating system when the process dies. The name is not needed: a
// file has one write lock.
func lock(ctx context.Context, db *gorm.DB, _ string, fn func(*gorm.DB) error) error {
	return db.WithContext(ctx).Transaction(fn)
}
