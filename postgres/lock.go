package postgres

import (
	"context"
	"hash/fnv"

	"gorm.io/gorm"
)

// lock runs fn holding the session-level advisory lock whose key is a hash
// of name, on one connection taken from the pool for the duration: fn runs
// on that connection, so its transactions are real ones. Waiting for the
// lock ends with ctx (pgx cancels the query). The lock is released when fn
// returns, and by the server when the connection closes, so a process
// killed while holding it does not block the others.
func lock(ctx context.Context, db *gorm.DB, name string, fn func(*gorm.DB) error) error {
	key := lockKey(name)
	return db.WithContext(ctx).Connection(func(pinned *gorm.DB) error {
		// A session, so that each use starts a statement of its own:
		// Connection hands over a chain that would carry one statement's
		// clauses and model into the next.
		conn := pinned.Session(&gorm.Session{})
		if err := conn.Exec("SELECT pg_advisory_lock(?)", key).Error; err != nil {
			return err
		}
		defer conn.WithContext(context.WithoutCancel(ctx)).Exec("SELECT pg_advisory_unlock(?)", key)
		return fn(conn)
	})
}

// lockKey maps a lock name to an advisory lock key. Two names sharing a
// key only serialize each other.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// tryLock takes the session-level advisory lock of name on a connection it
// keeps out of the pool until release, if no other session holds it.
func tryLock(ctx context.Context, db *gorm.DB, name string) (release func(), ok bool, err error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, false, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	key := lockKey(name)
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil || !ok {
		_ = conn.Close()
		return nil, false, err
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
		_ = conn.Close()
	}, true, nil
}
