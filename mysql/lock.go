package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"

	"gorm.io/gorm"
)

// lockWait is how long one GET_LOCK call waits before the context is
// checked again.
const lockWait = 1 // second

// maxLockName is the longest name GET_LOCK accepts.
const maxLockName = 64

// lock runs fn holding the named lock of GET_LOCK, on one connection taken
// from the pool for the duration (the lock belongs to the session). It
// waits in one-second GET_LOCK calls until it has the lock or ctx ends.
// The lock is released when fn returns, and by the server when the
// connection closes, so a process killed while holding it does not block
// the others.
func lock(ctx context.Context, db *gorm.DB, name string, fn func(*gorm.DB) error) error {
	name = lockName(name)
	return db.WithContext(ctx).Connection(func(pinned *gorm.DB) error {
		// A session, so that each use starts a statement of its own:
		// Connection hands over a chain that would carry one statement's
		// clauses and model into the next.
		conn := pinned.Session(&gorm.Session{})
		for {
			var got sql.NullInt64
			if err := conn.Raw("SELECT GET_LOCK(?, ?)", name, lockWait).Scan(&got).Error; err != nil {
				return err
			}
			if got.Valid && got.Int64 == 1 {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		defer conn.WithContext(context.WithoutCancel(ctx)).Exec("SELECT RELEASE_LOCK(?)", name)
		return fn(conn)
	})
}

// lockName fits name within GET_LOCK's limit: longer names keep a readable
// start and end in a hash of the whole.
func lockName(name string) string {
	if len(name) <= maxLockName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxLockName-17] + "_" + hex.EncodeToString(sum[:8])
}

// tryLock takes the GET_LOCK lock of name on a connection it keeps out of
// the pool until release, if no other session holds it.
func tryLock(ctx context.Context, db *gorm.DB, name string) (release func(), ok bool, err error) {
	name = lockName(name)
	sqlDB, err := db.DB()
	if err != nil {
		return nil, false, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil || !got.Valid || got.Int64 != 1 {
		_ = conn.Close()
		return nil, false, err
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name)
		_ = conn.Close()
	}, true, nil
}
