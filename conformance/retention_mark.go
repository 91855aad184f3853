package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// pruneDeadline bounds the prune beside a writer of old records: far more
// than a prune of what was there when it started takes on a loaded
// machine, so that only a prune that chases the writer reaches it.
const pruneDeadline = 2 * time.Minute

// testPruneBesideOldWriter prunes while another backend of the app adds
// finished units with old records in a loop (an import, a copy, a writer
// with a skewed clock), at least one after each batch: the prune deletes
// what was prunable when it started and returns, the units written after
// it started are left for the next prune, which deletes them.
func testPruneBesideOldWriter(t *testing.T, h Harness) {
	id := NewAppID()
	b, w := h.Open(t, id), h.Open(t, id)
	p := pruner(t, b)
	var before []state.InvocationID
	var invs []state.Invocation
	for i := range 40 {
		inv := topLevel(state.InvocationID(fmt.Sprintf("before-%02d", i)), "main", nil)
		invs = append(invs, inv)
		before = append(before, inv.ID)
	}
	mustUpsert(t, b, invs...)
	mustAddHistory(t, b, record(state.StatusSuccess, oldTime), before...)

	// The writer: a finished standalone unit per turn, its record old,
	// until the prune returns. A unit it starts writing once the prune has
	// reported a batch is after the prune's start. It writes up to
	// writeAhead units, and writeAhead more after each batch, so that the
	// units to check stay few however fast it is.
	const writeAhead = 8
	type unit struct {
		id    state.InvocationID
		after bool
	}
	var (
		mu       sync.Mutex
		written  []unit
		afterN   int // written units that are after the start
		started  atomic.Bool
		allowed  atomic.Int64
		credit   = make(chan struct{}, 1)
		wrote    = make(chan struct{}, 1)
		stop     = make(chan struct{})
		finished = make(chan struct{})
		fail     = make(chan error, 1)
	)
	allowed.Store(writeAhead)
	go func() {
		defer close(finished)
		for i := 0; ; i++ {
			for int64(i) >= allowed.Load() {
				select {
				case <-stop:
					return
				case <-credit:
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			u := unit{id: state.InvocationID(fmt.Sprintf("new-%06d", i)), after: started.Load()}
			err := w.UpsertInvocations(ctx(t), []state.Invocation{topLevel(u.id, "main", nil)})
			if err == nil {
				err = w.AddHistory(ctx(t), []state.InvocationID{u.id}, record(state.StatusSuccess, oldTime.Add(time.Duration(i+1)*time.Millisecond)))
			}
			if err != nil {
				fail <- fmt.Errorf("the writer, writing %s: %w", u.id, err)
				return
			}
			mu.Lock()
			written = append(written, u)
			if u.after {
				afterN++
			}
			mu.Unlock()
			select {
			case wrote <- struct{}{}:
			default:
			}
		}
	}()
	afterCount := func() (int, state.InvocationID) {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range written {
			if u.after {
				return afterN, u.id
			}
		}
		return 0, ""
	}

	pruneCtx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	// After each batch: a unit written after the start must still be there,
	// and the writer must write another before the prune goes on.
	progress := func(state.PruneStats) {
		started.Store(true)
		n, first := afterCount()
		allowed.Add(writeAhead)
		select {
		case credit <- struct{}{}:
		default:
		}
		if first != "" {
			// From the prune's goroutine: no t.Fatal here.
			if _, err := b.Invocation(pruneCtx, first); errors.Is(err, state.ErrNotFound) {
				t.Errorf("Prune deleted %s, written after it started: it must leave it to the next prune", first)
				cancel()
				return
			}
		}
		for {
			if m, _ := afterCount(); m > n {
				return
			}
			select {
			case <-wrote:
			case <-finished:
				return
			case <-pruneCtx.Done():
				return
			}
		}
	}
	type result struct {
		stats state.PruneStats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.Prune(pruneCtx, state.PruneOptions{OlderThan: retention, BatchSize: 4, Progress: progress})
		done <- result{s, err}
	}()
	deadline := time.NewTimer(pruneDeadline)
	defer deadline.Stop()
	var res result
	select {
	case res = <-done:
	case <-deadline.C:
		cancel()
		res = <-done
		close(stop)
		<-finished
		t.Fatalf("Prune beside a writer of old records was still running after %v (deleted so far %+v): it must end at what was there when it started",
			pruneDeadline, res.stats)
	}
	close(stop)
	<-finished
	select {
	case err := <-fail:
		t.Fatal(err)
	default:
	}
	noErr(t, "Prune beside a writer of old records", res.err)
	for _, id := range before {
		if present(t, b, id) || len(mustHistory(t, b, id)) > 0 {
			t.Errorf("%s, finished long before the prune started, is still there", id)
		}
	}
	mu.Lock()
	all := append([]unit(nil), written...)
	mu.Unlock()
	var left, after int
	for _, u := range all {
		if !present(t, b, u.id) {
			if u.after {
				t.Errorf("Prune deleted %s, written after it started", u.id)
			}
			continue
		}
		left++
		if u.after {
			after++
			if hs := mustHistory(t, b, u.id); len(hs) != 1 {
				t.Errorf("%s, written after the prune started, has %d history records left, want 1", u.id, len(hs))
			}
		}
	}
	if after == 0 {
		t.Fatalf("no unit was written after the prune started (%d written in all): the test proves nothing", len(all))
	}
	if t.Failed() {
		return
	}

	// The next prune deletes them.
	next, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: 4})
	noErr(t, "the next Prune", err)
	if next.Units != int64(left) {
		t.Errorf("the next Prune deleted %d units, want the %d written during the first and left (%d of them after it started)", next.Units, left, after)
	}
	for _, u := range all {
		if present(t, b, u.id) {
			t.Errorf("%s is still there after the next prune", u.id)
		}
	}
}
