package statebackend_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/sqlite"
)

// TestGroupCommitIsolatesFailures checks that when writes share a
// transaction and one fails, the others still commit and only the failing
// caller sees an error.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "gc.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b := statebackend.Internals(be)
	if !b.HasCommitter() {
		t.Fatal("SQLite backend has no group committer")
	}
	ctx := context.Background()
	errBoom := errors.New("boom")
	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("inv-%02d", i)
			// Writes must be atomic on their own (every Backend write is);
			// this one fails after writing, inside its own transaction.
			errs[i] = b.Write(ctx, "test", func(db *gorm.DB) error {
				return db.Transaction(func(tx *gorm.DB) error {
					row := entities.Result{InvocationID: entities.Key(id), ResultData: []byte(id)}
					if err := b.Repo().SetResult(tx, row); err != nil {
						return err
					}
					if i%7 == 3 {
						return errBoom
					}
					return nil
				})
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		id := fmt.Sprintf("inv-%02d", i)
		data, resErr := be.Result(ctx, statebackend.InvocationID(id))
		if i%7 == 3 {
			if !errors.Is(err, errBoom) {
				t.Errorf("writer %d: got %v, want boom", i, err)
			}
			if !errors.Is(resErr, statebackend.ErrNotFound) {
				t.Errorf("writer %d failed but its write is visible: %q, %v", i, data, resErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: unexpected error %v", i, err)
		}
		if resErr != nil || string(data) != id {
			t.Errorf("writer %d: result %q, %v", i, data, resErr)
		}
	}
}

// TestGroupCommitSkipsCancelled checks that a queued write whose context is
// cancelled is not run.
func TestGroupCommitSkipsCancelled(t *testing.T) {
	t.Parallel()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "gc.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b := statebackend.Internals(be)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err = b.CommitterDo(ctx, "test", func(*gorm.DB) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled write: err %v, ran %v", err, ran)
	}
	var n int64
	if err := b.DB().Model(&entities.Result{}).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("rows %d, %v", n, err)
	}
}
