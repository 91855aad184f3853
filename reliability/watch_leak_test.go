package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/internal/leakcheck"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// TestWatchLeavesNothing proves that a watch releases what it holds when
// its consumer stops iterating or its context ends: on each database, a
// store with a pool of two connections runs watches that follow (on
// Postgres each LISTENs on a connection of its own) and are stopped both
// ways; afterwards a write still gets a connection at once, and once the
// store is closed no goroutine is left. It does not run in parallel with
// other tests, whose goroutines would count.
func TestWatchLeavesNothing(t *testing.T) {
	dbs := []struct {
		name string
		open func(t *testing.T) gorm.Dialector
	}{
		{"SQLite", func(t *testing.T) gorm.Dialector { return sqlite.Open(filepath.Join(t.TempDir(), "watch.db")) }},
		{"Postgres", func(t *testing.T) gorm.Dialector { return postgres.Open(serverDBs[0].dsn(t)) }},
		{"MySQL", func(t *testing.T) gorm.Dialector { return mysql.Open(serverDBs[1].dsn(t)) }},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			d := db.open(t) // provision the server (and its container) before the count
			baseline := goleak.IgnoreCurrent()
			b, err := statebackend.Open(d, statebackend.WithAppID(conformance.NewAppID()),
				statebackend.WithPool(statebackend.Pool{MaxOpenConns: 2, MaxIdleConns: 2}))
			if err != nil {
				t.Fatal(err)
			}
			bg := context.Background()
			for cycle := range 6 {
				after, err := b.LatestChange(bg)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(bg)
				events := make(chan error, 2)
				go func() {
					for _, err := range b.Watch(ctx, state.WatchRequest{After: after, Follow: true, PollInterval: 5 * time.Millisecond}) {
						events <- err
						if err != nil || cycle%2 == 0 {
							return // the consumer stops (or the watch ended)
						}
					}
					events <- errors.New("a following watch ended without an error")
				}()
				if err := b.SetResult(bg, statebackend.InvocationID(fmt.Sprintf("leak-%d", cycle)), []byte("r")); err != nil {
					t.Fatal(err)
				}
				if err := <-events; err != nil {
					t.Fatalf("cycle %d: %v", cycle, err)
				}
				if cycle%2 == 1 {
					cancel()
					if err := <-events; !errors.Is(err, context.Canceled) {
						t.Fatalf("cycle %d: after cancel the watch yielded %v, want context.Canceled", cycle, err)
					}
				}
				cancel()
			}
			// Had a watch kept a connection, the pool of two would be
			// short of one by now.
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			for i := range 4 {
				if err := b.SetResult(ctx, statebackend.InvocationID(fmt.Sprintf("after-%d", i)), []byte("r")); err != nil {
					t.Fatalf("a write after the watches: %v", err)
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			leakcheck.VerifyNone(t, baseline)
		})
	}
}
