package reliability_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/internal/leakcheck"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// leakCycles is how many times TestOpenCloseLeavesNoGoroutine opens and
// closes a backend on each database.
const leakCycles = 20

// TestOpenCloseLeavesNoGoroutine proves that no goroutine outlives Close:
// on each database, leakCycles backends are opened, written from several
// goroutines at once (so that the pool opens several connections and, on
// SQLite, the group committer hands writes to its drain goroutine), read,
// and closed, the last one while writes are in flight; afterwards the
// process has exactly the goroutines it had before. It does not run in
// parallel with other tests, whose goroutines would count.
func TestOpenCloseLeavesNoGoroutine(t *testing.T) {
	dbs := []struct {
		name string
		open func(t *testing.T) gorm.Dialector
	}{
		{"SQLite", func(t *testing.T) gorm.Dialector { return sqlite.Open(filepath.Join(t.TempDir(), "leak.db")) }},
		{"SQLite_memory", func(*testing.T) gorm.Dialector { return sqlite.Open(":memory:") }},
		{"Postgres", func(t *testing.T) gorm.Dialector { return postgres.Open(serverDBs[0].dsn(t)) }},
		{"MySQL", func(t *testing.T) gorm.Dialector { return mysql.Open(serverDBs[1].dsn(t)) }},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			db.open(t) // provision the server (and its container) before the count
			baseline := goleak.IgnoreCurrent()
			ctx := context.Background()
			for cycle := range leakCycles {
				b, err := statebackend.Open(db.open(t), statebackend.WithAppID(conformance.NewAppID()))
				if err != nil {
					t.Fatal(err)
				}
				last := cycle == leakCycles-1
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Go(func() {
						for i := range 5 {
							id := statebackend.InvocationID(fmt.Sprintf("c%d-g%d-%d", cycle, g, i))
							err := b.SetResult(ctx, id, []byte("x"))
							if err != nil && !last {
								t.Errorf("write: %v", err)
							}
						}
					})
				}
				if last {
					_ = b.Close() // with writes in flight
					wg.Wait()
					continue
				}
				wg.Wait()
				if _, err := b.Result(ctx, "c0-g0-0"); err != nil && cycle == 0 {
					t.Errorf("read: %v", err)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			}
			leakcheck.VerifyNone(t, baseline)
		})
	}
}
