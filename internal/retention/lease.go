package retention

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
	"github.com/taskstate/statebackend/internal/op"
)

// leaseTTL is how long a lease lasts unless renewed; a holder renews it
// every leaseTTL/3 and a killed holder blocks the others for at most this
// long.
const leaseTTL = time.Minute

// TryLock takes the lock called name: through the database's try-lock
// when it has one, otherwise as a lease in the app's leases table.
func (pr *Pruner) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	if pr.tryLock != nil {
		return pr.tryLock(ctx, pr.eng.DB().WithContext(ctx), name)
	}
	return pr.TryLease(ctx, name)
}

// holderID names this backend as a lease holder, readably for operators.
func holderID() string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// TryLease takes the lease called name for pr.holder when it is free,
// expired or already its own, and keeps it renewed until release: the
// lock of databases without a try-lock of their own.
func (pr *Pruner) TryLease(ctx context.Context, name string) (release func(), ok bool, err error) {
	// Run, not Write: the release must work while Close stops the pruner,
	// after the store refuses new calls.
	now := time.Now()
	err = pr.eng.Run(ctx, op.Lease, func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error {
			res := tx.Model(&entities.Lease{}).
				Where("name = ? AND (expires_at < ? OR holder = ?)", name, now.UnixMicro(), pr.holder).
				Updates(map[string]any{"holder": pr.holder, "expires_at": now.Add(leaseTTL).UnixMicro()})
			if res.Error != nil {
				return res.Error
			}
			if ok = res.RowsAffected == 1; ok {
				return nil
			}
			res = tx.Clauses(clause.OnConflict{DoNothing: true}).
				Create(&entities.Lease{Name: entities.Key(name), Holder: entities.Key(pr.holder), ExpiresAt: now.Add(leaseTTL).UnixMicro()})
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
				err := pr.eng.Run(context.Background(), op.Lease, func(db *gorm.DB) error {
					return db.Model(&entities.Lease{}).Where("name = ? AND holder = ?", name, pr.holder).
						Update("expires_at", time.Now().Add(leaseTTL).UnixMicro()).Error
				})
				if err != nil {
					pr.log.Warn("renewing a lease failed", "lease", name, "err", err)
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		err := pr.eng.Run(context.Background(), op.Lease, func(db *gorm.DB) error {
			return db.Model(&entities.Lease{}).Where("name = ? AND holder = ?", name, pr.holder).Update("expires_at", 0).Error
		})
		if err != nil {
			pr.log.Warn("releasing a lease failed; it expires on its own", "lease", name, "err", err)
		}
	}, true, nil
}
