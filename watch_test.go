package statebackend_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/state"
)

// TestWatchMissesNothing runs writers that hold their transactions open
// for random times and roll some back, while a consumer follows the
// changes and restarts from its last cursor at random points: it must
// receive every committed change exactly once, none of the rolled back
// ones, and each invocation's changes in the order they committed.
func TestWatchMissesNothing(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "watch-race", testWatchMissesNothing)
}

func testWatchMissesNothing(t *testing.T, b *statebackend.Store) {
	ctx := t.Context()
	const writers = 16
	perWriter := 25
	hold := 20 * time.Millisecond
	if statebackend.Inside(b).DB().Dialector.Name() == "sqlite" {
		// One writer at a time: a held transaction holds up all others.
		perWriter, hold = 15, 2*time.Millisecond
	}
	history := statebackend.Inside(b).Repo().Tables.Name("History")
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	start, err := b.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}

	type rec struct {
		inv string
		ts  int64
	}
	var mu sync.Mutex
	var committed []rec // in each invocation's commit order
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for k := range perWriter {
				inv := fmt.Sprintf("w%02d-inv%d", w, k%3) // each invocation has one writer
				var batch []rec
				err := statebackend.Inside(b).Write(ctx, "AddHistory", func(db *gorm.DB) error {
					return db.Transaction(func(tx *gorm.DB) error {
						batch = batch[:0]
						for j := range 1 + rng.IntN(3) {
							r := rec{inv, state.ToMicros(base.Add(time.Duration(k*10+j) * time.Millisecond))}
							err := tx.Exec("INSERT INTO "+history+" (invocation_id, history_timestamp, history_status, history_json) VALUES (?, ?, ?, ?)",
								r.inv, r.ts, "RUNNING", `{"runner_context_id": "r"}`).Error
							if err != nil {
								return err
							}
							batch = append(batch, r)
						}
						time.Sleep(time.Duration(rng.Int64N(int64(hold))))
						if rng.IntN(8) == 0 {
							return errRollback
						}
						return nil
					})
				})
				switch {
				case errors.Is(err, errRollback):
				case err != nil:
					errs <- err
					return
				default:
					mu.Lock()
					committed = append(committed, batch...)
					mu.Unlock()
				}
			}
		})
	}

	// The consumer: follows, and restarts after a random number of changes.
	var got []state.Change
	var consumerErr error
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 5))
		after := start
		for cctx.Err() == nil {
			stopAt := 1 + rng.IntN(40)
			n := 0
			for ch, err := range b.Watch(cctx, state.WatchRequest{After: after, Follow: true, PollInterval: 5 * time.Millisecond}) {
				if err != nil {
					if cctx.Err() == nil {
						consumerErr = err
					}
					return
				}
				mu.Lock()
				got = append(got, ch)
				mu.Unlock()
				after = ch.Cursor
				if n++; n == stopAt {
					break
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	want := len(committed)
	mu.Unlock()
	err = poll.Until(ctx, "the consumer received every committed change", func(context.Context) error {
		select {
		case <-done:
			return nil // it failed: reported below
		default:
		}
		if n := lenChanges(&mu, &got); n < want {
			return fmt.Errorf("received %d of %d", n, want)
		}
		return nil
	})
	cancel()
	<-done
	if consumerErr != nil {
		t.Fatal(consumerErr)
	}
	if err != nil {
		t.Fatalf("received %d of %d committed changes: %v", len(got), want, err)
	}
	// Exactly what committed, each once, in each invocation's order.
	seen := map[state.ChangeCursor]bool{}
	perInv := map[string][]int64{}
	for _, ch := range got {
		if seen[ch.Cursor] {
			t.Fatalf("change %s delivered twice", ch.Cursor)
		}
		seen[ch.Cursor] = true
		perInv[string(ch.InvocationID)] = append(perInv[string(ch.InvocationID)], state.ToMicros(ch.Timestamp))
	}
	wantInv := map[string][]int64{}
	for _, r := range committed {
		wantInv[r.inv] = append(wantInv[r.inv], r.ts)
	}
	if len(got) != len(committed) {
		t.Fatalf("received %d changes, %d committed", len(got), len(committed))
	}
	for inv, ts := range wantInv {
		if fmt.Sprint(perInv[inv]) != fmt.Sprint(ts) {
			t.Fatalf("invocation %s: received %v, committed %v", inv, perInv[inv], ts)
		}
	}
}

var errRollback = errors.New("roll back")

func lenChanges(mu *sync.Mutex, got *[]state.Change) int {
	mu.Lock()
	defer mu.Unlock()
	return len(*got)
}

// TestWatchNotified checks that on Postgres a following watch is woken by
// the commit itself: with an hour between polls, only the notification can
// deliver the change.
func TestWatchNotified(t *testing.T) {
	t.Parallel()
	b := pgtest.Open(t, "watch-notify-"+strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))
	ctx := t.Context()
	after, err := b.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan state.Change, 10)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for ch, err := range b.Watch(wctx, state.WatchRequest{After: after, Follow: true, PollInterval: time.Hour}) {
			if err != nil {
				close(got)
				return
			}
			got <- ch
		}
	}()
	// The first change may come from the watch's first read; once it has
	// it, the watch waits an hour, and only a notification brings the
	// second one.
	for _, id := range []state.InvocationID{"first", "second"} {
		if err := b.SetResult(ctx, id, []byte("r")); err != nil {
			t.Fatal(err)
		}
		select {
		case ch, ok := <-got:
			if !ok {
				t.Fatal("the watch ended")
			}
			if ch.Kind != state.ChangeResult || ch.InvocationID != id {
				t.Fatalf("got %+v, want the result of %s", ch, id)
			}
		case <-time.After(poll.Timeout):
			t.Fatalf("the change of %s was not delivered", id)
		}
	}
}
