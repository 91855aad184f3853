package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Retention tests of units of many shapes: a prune's batches stay within
// BatchSize whatever a unit looks like, and a prune stopped after any batch
// leaves what the next one finds and finishes.

// shape is a finished unit written by fanOut: a workflow tree with its
// invocations.
type shape struct {
	u    *pruneUnit
	root state.InvocationID
	// above lists, for each invocation, the starters of the workflows it is
	// in or under, its own workflow's first, the root's last (an
	// invocation that starts a workflow is not above itself).
	above map[state.InvocationID][]state.InvocationID
}

// fanOut writes a finished unit named name, ids prefixed with it: a
// top-level workflow in which every workflow down to depth levels below
// the root has leaves plain invocations and subs sub-workflows (those at
// the last level have leaves only), all finished long ago, with results
// and an exception.
func fanOut(t *testing.T, b state.Backend, name string, subs, leaves, depth int) *shape {
	t.Helper()
	ub := newUnit(t, b, name)
	s := &shape{above: map[state.InvocationID][]state.InvocationID{}}
	root := ub.inv(topLevel(state.InvocationID(name), "main", nil))
	s.root = root.ID
	var grow func(wf state.Invocation, above []state.InvocationID, level int)
	grow = func(wf state.Invocation, above []state.InvocationID, level int) {
		s.above[wf.ID] = above
		inside := append([]state.InvocationID{wf.ID}, above...)
		for i := range leaves {
			c := ub.inv(child(state.InvocationID(fmt.Sprintf("%s-c%d", wf.ID, i)), "leaf", wf))
			s.above[c.ID] = inside
		}
		if level == depth {
			return
		}
		for i := range subs {
			grow(ub.inv(subWorkflow(state.InvocationID(fmt.Sprintf("%s-s%d", wf.ID, i)), "nested", wf)), inside, level+1)
		}
	}
	grow(root, nil, 0)
	var ids []state.InvocationID
	for _, inv := range ub.u.invs {
		ids = append(ids, inv.ID)
	}
	for k, st := range []state.Status{state.StatusRegistered, state.StatusPending, state.StatusRunning, state.StatusSuccess} {
		h := record(st, oldTime.Add(time.Duration(k)*time.Second))
		mustAddHistory(t, b, h, ids...)
		for _, id := range ids {
			ub.u.history[id] = append(ub.u.history[id], stored(id, h))
			ub.u.rowsTotal.History++
		}
	}
	for i, id := range ids {
		if i%3 == 1 {
			ub.result(id)
		}
	}
	ub.exception(ids[len(ids)-1])
	s.u = ub.u
	return s
}

// shapes writes the units of the batch tests, names prefixed with prefix:
// a root with 20 sub-workflows of one invocation each (wide); workflows
// nested 4 levels below the root, each with 3 invocations (deep); and a
// root with 2 sub-workflows each with 2 of their own, every workflow with
// 2 invocations (wide and deep).
func shapes(t *testing.T, b state.Backend, prefix string) []*shape {
	t.Helper()
	return []*shape{
		fanOut(t, b, prefix+"wide", 20, 0, 1),
		fanOut(t, b, prefix+"deep", 1, 3, 4),
		fanOut(t, b, prefix+"mixed", 2, 2, 2),
	}
}

// present reports whether the invocation id is still stored.
func present(t *testing.T, b state.Backend, id state.InvocationID) bool {
	t.Helper()
	_, err := b.Invocation(ctx(t), id)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Invocation(%s): %v", id, err)
	}
	return err == nil
}

// testPruneBatchBound prunes units of every shape with batch sizes 1 to 7
// and checks each batch Progress reports: one batch per call, at most
// BatchSize invocations in it, and no root deleted before the rest of its
// unit.
func testPruneBatchBound(t *testing.T, h Harness) {
	for size := 1; size <= 7; size++ {
		t.Run(fmt.Sprintf("batch_%d", size), func(t *testing.T) {
			t.Parallel()
			b := open(t, h)
			p := pruner(t, b)
			units := shapes(t, b, "")
			var want state.PruneStats
			for _, s := range units {
				want = want.Add(s.u.rowsTotal)
				want.Units++
			}
			rootGone := map[state.InvocationID]bool{}
			var last state.PruneStats
			calls := 0
			stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: size, Progress: func(s state.PruneStats) {
				calls++
				if s.Batches != last.Batches+1 {
					t.Errorf("Progress call %d reports %d batches after %d: want one call per batch", calls, s.Batches, last.Batches)
				}
				if n := s.Invocations - last.Invocations; n > int64(size) {
					t.Errorf("batch %d deleted %d invocations, more than BatchSize %d", s.Batches, n, size)
				}
				last = s
				for _, u := range units {
					if rootGone[u.root] || present(t, b, u.root) {
						continue
					}
					rootGone[u.root] = true
					for _, inv := range u.u.invs {
						if present(t, b, inv.ID) {
							t.Errorf("unit %q: its root %s is gone while %s is still there", u.u.name, u.root, inv.ID)
						}
					}
				}
			}})
			noErr(t, fmt.Sprintf("Prune(BatchSize %d)", size), err)
			wantStats(t, fmt.Sprintf("Prune(BatchSize %d)", size), stats, want)
			if minimum := (want.Invocations + int64(size) - 1) / int64(size); stats.Batches < minimum {
				t.Errorf("Prune(BatchSize %d) reported %d batches for %d invocations", size, stats.Batches, want.Invocations)
			}
			if withoutKept(last) != withoutKept(stats) {
				t.Errorf("progress ended at %+v, Prune returned %+v", last, stats)
			}
			for _, u := range units {
				checkGone(t, b, u.u)
			}
		})
	}
}

// testPruneInterrupted stops prunes of a unit nested wide and deep after
// their first batch, again and again: between two of them, every
// invocation left still has the invocations that start the workflows
// above it (the root last of all), and the prunes end up deleting the
// whole unit, counted once.
func testPruneInterrupted(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	s := fanOut(t, b, "nested", 2, 2, 2)
	keep := newUnit(t, b, "live")
	lv := keep.inv(topLevel("live", "main", nil))
	keep.hist(lv.ID, oldTime, state.StatusRunning)
	var total state.PruneStats
	for round := 1; ; round++ {
		if round > len(s.u.invs)+3 {
			t.Fatalf("%d prunes stopped after a batch each have not deleted the unit (deleted so far %+v)", round-1, total)
		}
		stop, cancel := context.WithCancel(ctx(t))
		stats, err := p.Prune(stop, state.PruneOptions{OlderThan: retention, BatchSize: 2, Progress: func(state.PruneStats) { cancel() }})
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("prune %d, stopped after its first batch: %v", round, err)
		}
		total = total.Add(stats)
		left := 0
		for _, inv := range s.u.invs {
			if !present(t, b, inv.ID) {
				continue
			}
			left++
			for _, starter := range s.above[inv.ID] {
				if !present(t, b, starter) {
					t.Fatalf("after prune %d: %s is left but %s, which starts a workflow above it, is gone", round, inv.ID, starter)
				}
			}
		}
		if left == 0 {
			break
		}
		if stats.Batches == 0 {
			t.Fatalf("prune %d deleted nothing, and %d invocations of the finished unit are left", round, left)
		}
	}
	want := s.u.rowsTotal
	want.Units = 1
	wantStats(t, "the prunes stopped after a batch each, in all", total, want)
	checkGone(t, b, s.u)
	checkKept(t, b, keep.u)
}

// testPruneKept checks the Kept count: the units with history older than
// the cutoff that a prune keeps, live or recent, each once; those it
// deletes and those with recent history only are not counted.
func testPruneKept(t *testing.T, h Harness) {
	b := open(t, h)
	p := pruner(t, b)
	w := buildWorld(t, b, "")
	// A unit with only recent history: nothing for a prune to look at.
	fresh := newUnit(t, b, "recent only")
	f := fresh.inv(topLevel("recent-only", "main", nil))
	fresh.hist(f.ID, recentTime(), state.StatusRegistered, state.StatusRunning)
	want := int64(len(w.kept))
	dry, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, DryRun: true})
	noErr(t, "Prune(DryRun)", err)
	if dry.Kept != want {
		t.Errorf("Prune(DryRun) counted %d units kept, want %d (every unit of the world with history older than the cutoff, live or recent)", dry.Kept, want)
	}
	stats, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention, BatchSize: 3})
	noErr(t, "Prune", err)
	if stats.Kept != want {
		t.Errorf("Prune counted %d units kept, want %d", stats.Kept, want)
	}
	again, err := p.Prune(ctx(t), state.PruneOptions{OlderThan: retention})
	noErr(t, "Prune again", err)
	if again.Kept != want || again.Units != 0 {
		t.Errorf("the second Prune deleted %d units and counted %d kept, want 0 and %d", again.Units, again.Kept, want)
	}
	w.check(t, b)
	checkKept(t, b, fresh.u)

	// A workflow running for 50 days, nothing in it finished, alone: kept,
	// and counted.
	b = open(t, h)
	p = pruner(t, b)
	stuck := newUnit(t, b, "stuck")
	root := stuck.inv(topLevel("stuck", "main", nil))
	c := stuck.inv(child("stuck-c1", "step", root))
	started := time.Now().Add(-50 * 24 * time.Hour).Truncate(time.Microsecond)
	stuck.hist(root.ID, started, state.StatusRegistered, state.StatusRunning)
	stuck.hist(c.ID, started, state.StatusRegistered, state.StatusPending)
	stats, err = p.Prune(ctx(t), state.PruneOptions{OlderThan: 30 * 24 * time.Hour})
	noErr(t, "Prune with a workflow running for 50 days", err)
	if stats.Kept != 1 || stats.Units != 0 {
		t.Errorf("Prune(OlderThan 30 days) beside a workflow running for 50 days deleted %d units and counted %d kept, want 0 and 1", stats.Units, stats.Kept)
	}
	checkKept(t, b, stuck.u)
}
