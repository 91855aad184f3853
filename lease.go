package statebackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// leaseTTL is how long a lease lasts unless renewed; a holder renews it
// every leaseTTL/3 and a killed holder blocks the others for at most this
// long.
const leaseTTL = time.Minute

// tryLock takes the lock called name: through the dialect's TryLock when
// it has one, otherwise as a lease in the app's leases table.
func (b *gormBackend) tryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	if b.dialect.TryLock != nil {
		return b.dialect.TryLock(ctx, b.db.WithContext(ctx), name)
	}
	return b.tryLease(ctx, name)
}

// holderID names this backend as a lease holder, readably for operators.
func holderID() string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// tryLease takes the lease called name for b.holder when it is free,
// expired or already b's, and keeps it renewed until release.
func (b *gormBackend) tryLease(ctx context.Context, name string) (release func(), ok bool, err error) {
	// b.run, not b.write: the release must work while Close stops the
	// pruner, after the backend refuses new calls.
	now := time.Now()
	err = b.run(ctx, "lease", func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error {
			res := tx.Model(&entities.Lease{}).
				Where("name = ? AND (expires_at < ? OR holder = ?)", name, now.UnixMicro(), b.holder).
				Updates(map[string]any{"holder": b.holder, "expires_at": now.Add(leaseTTL).UnixMicro()})
			if res.Error != nil {
				return res.Error
			}
			if ok = res.RowsAffected == 1; ok {
				return nil
			}
			res = tx.Clauses(clause.OnConflict{DoNothing: true}).
				Create(&entities.Lease{Name: entities.Key(name), Holder: entities.Key(b.holder), ExpiresAt: now.Add(leaseTTL).UnixMicro()})
			ok = res.Error == nil && res.RowsAffected == 1
			return res.Error
		})
	})
	if err != nil || !ok {
		return nil, false, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				err := b.run(context.Background(), "lease", func(db *gorm.DB) error {
					return db.Model(&entities.Lease{}).Where("name = ? AND holder = ?", name, b.holder).
						Update("expires_at", time.Now().Add(leaseTTL).UnixMicro()).Error
				})
				if err != nil {
					b.log.Warn("renewing a lease failed", "lease", name, "err", err)
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		err := b.run(context.Background(), "lease", func(db *gorm.DB) error {
			return db.Model(&entities.Lease{}).Where("name = ? AND holder = ?", name, b.holder).Update("expires_at", 0).Error
		})
		if err != nil {
			b.log.Warn("releasing a lease failed; it expires on its own", "lease", name, "err", err)
		}
	}, true, nil
}
