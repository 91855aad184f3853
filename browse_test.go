package statebackend_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/state"
)

// TestCurrentStatusUnderConcurrentWriters races writers on every database:
// each of 16 goroutines writes history records with random timestamps
// (late and equal ones included) for invocations the others write too,
// and stores invocations, some before their first record and some after,
// in transactions that interleave; the current statuses the database kept
// must then equal a brute force over History, in the listing and in the
// counts.
func TestCurrentStatusUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "browse-race", testCurrentStatusRace)
}

func testCurrentStatusRace(t *testing.T, b *statebackend.Store) {
	ctx := t.Context()
	const (
		writers = 16
		ids     = 40
		perW    = 30
	)
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	task := func(i int) statebackend.TaskID {
		return statebackend.TaskID{Module: "race.tasks", FuncName: fmt.Sprintf("t%d", i%3)}
	}
	id := func(i int) statebackend.InvocationID { return statebackend.InvocationID(fmt.Sprintf("race-%02d", i)) }
	statuses := []statebackend.Status{
		statebackend.StatusPending, statebackend.StatusRunning, statebackend.StatusSuccess,
		statebackend.StatusFailed, statebackend.StatusRetry,
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for k := range perW {
				i := rng.IntN(ids)
				if k%5 == w%5 {
					// Invocations are stored by several writers, before or
					// after their records, and some never are.
					if i%7 != 0 {
						inv := statebackend.Invocation{
							ID: id(i), CallID: statebackend.CallID{Task: task(i), ArgsID: "a"},
							Workflow: statebackend.WorkflowIdentity{WorkflowID: id(i), WorkflowType: task(i)},
						}
						if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
							errs <- err
							return
						}
					}
					continue
				}
				// Timestamps from few distinct values: ties and late records.
				ts := base.Add(time.Duration(rng.IntN(20)) * time.Second)
				st := statuses[rng.IntN(len(statuses))]
				h := statebackend.InvocationHistory{
					Timestamp:       ts,
					StatusRecord:    statebackend.StatusRecord{Status: st, Timestamp: ts, RunnerID: fmt.Sprintf("w%d", w)},
					RunnerContextID: fmt.Sprintf("ctx-%d", w),
				}
				batch := []statebackend.InvocationID{id(i), id((i + 1 + rng.IntN(3)) % ids)}
				if err := b.AddHistory(ctx, batch, h); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The brute force: the last record of each id's History.
	type cur struct {
		task   string
		status statebackend.Status
		at     time.Time
		runner string
	}
	want := map[statebackend.InvocationID]cur{}
	for i := range ids {
		hist, err := b.History(ctx, id(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) == 0 {
			continue
		}
		last := hist[len(hist)-1]
		c := cur{status: last.StatusRecord.Status, at: last.Timestamp, runner: last.RunnerContextID}
		if inv, err := b.Invocation(ctx, id(i)); err == nil {
			c.task = inv.CallID.Task.Key()
		}
		want[id(i)] = c
	}
	if len(want) < ids/2 {
		t.Fatalf("only %d ids got history", len(want))
	}

	got := map[statebackend.InvocationID]cur{}
	var order []state.InvocationSummary
	page := state.PageRequest{Limit: 7}
	for {
		p, err := b.ListInvocations(ctx, state.InvocationFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Invocations {
			if _, dup := got[s.ID]; dup {
				t.Fatalf("%s listed twice", s.ID)
			}
			c := cur{status: s.Status.Status, at: s.ChangedAt, runner: s.RunnerContextID}
			if !s.Task.IsZero() {
				c.task = s.Task.Key()
			}
			got[s.ID] = c
		}
		order = append(order, p.Invocations...)
		if p.Next == "" {
			break
		}
		page.After = p.Next
	}
	if !reflect.DeepEqual(got, want) {
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: listed %+v, History says %+v", id, got[id], w)
			}
		}
		t.Fatalf("listing has %d invocations, History %d", len(got), len(want))
	}
	if !slices.IsSortedFunc(order, func(a, b state.InvocationSummary) int {
		if c := b.ChangedAt.Compare(a.ChangedAt); c != 0 {
			return c
		}
		return strings.Compare(string(b.ID), string(a.ID))
	}) {
		t.Error("listing not newest change first")
	}

	// Counts per task and status, the task filter and the status counts
	// agree with the brute force too.
	wantCounts := map[[2]string]int64{}
	for _, c := range want {
		wantCounts[[2]string{c.task, string(c.status)}]++
	}
	counts, err := b.CountInvocations(ctx, state.InvocationFilter{}, true)
	if err != nil {
		t.Fatal(err)
	}
	gotCounts := map[[2]string]int64{}
	for _, c := range counts {
		key := ""
		if !c.Task.IsZero() {
			key = c.Task.Key()
		}
		gotCounts[[2]string{key, string(c.Status)}] = c.Count
	}
	if !reflect.DeepEqual(gotCounts, wantCounts) {
		t.Fatalf("counts %v, brute force %v", gotCounts, wantCounts)
	}
}

// TestPrunedInvocationsLeaveListings checks on every database that a
// prune deletes the current statuses of what it deletes: pruned
// invocations are neither listed nor counted, live ones still are, and a
// purge empties the listing.
func TestPrunedInvocationsLeaveListings(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "browse-prune", func(t *testing.T, b *statebackend.Store) {
		ctx := t.Context()
		task := statebackend.TaskID{Module: "prune.tasks", FuncName: "run"}
		old := time.Now().Add(-48 * time.Hour).UTC()
		store := func(id statebackend.InvocationID, st statebackend.Status, at time.Time) {
			t.Helper()
			inv := statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: string(id)},
				Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}
			if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
				t.Fatal(err)
			}
			h := statebackend.InvocationHistory{Timestamp: at, StatusRecord: statebackend.StatusRecord{Status: st, Timestamp: at}}
			if err := b.AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
				t.Fatal(err)
			}
		}
		store("done-old", statebackend.StatusSuccess, old)
		store("failed-old", statebackend.StatusFailed, old.Add(time.Second))
		store("running-old", statebackend.StatusRunning, old)
		store("done-new", statebackend.StatusSuccess, time.Now().UTC())
		listed := func() []statebackend.InvocationID {
			t.Helper()
			p, err := b.ListInvocations(ctx, state.InvocationFilter{}, state.PageRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []statebackend.InvocationID
			for _, s := range p.Invocations {
				ids = append(ids, s.ID)
			}
			slices.Sort(ids)
			return ids
		}
		if got := listed(); len(got) != 4 {
			t.Fatalf("before the prune: listed %v, want 4 invocations", got)
		}
		if _, err := b.Prune(ctx, statebackend.PruneOptions{OlderThan: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		want := []statebackend.InvocationID{"done-new", "running-old"}
		if got := listed(); !slices.Equal(got, want) {
			t.Fatalf("after the prune: listed %v, want %v", got, want)
		}
		counts, err := b.CountInvocations(ctx, state.InvocationFilter{}, false)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := []state.StatusCount{{Status: statebackend.StatusRunning, Count: 1}, {Status: statebackend.StatusSuccess, Count: 1}}
		if !reflect.DeepEqual(counts, wantCounts) {
			t.Fatalf("after the prune: counts %+v, want %+v", counts, wantCounts)
		}
		if err := b.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if got := listed(); len(got) != 0 {
			t.Fatalf("after a purge: listed %v", got)
		}
	})
}

// TestEstimateInvocations checks the CountEstimator: on Postgres, once
// the table is analyzed, counts per status come from its statistics (exact
// here: ANALYZE reads every row of a small table); with any other filter,
// per task, and on SQLite and MySQL, they are counted.
func TestEstimateInvocations(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "browse-estimate", func(t *testing.T, b *statebackend.Store) {
		ctx := t.Context()
		task := statebackend.TaskID{Module: "estimate.tasks", FuncName: "run"}
		at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
		var invs []statebackend.Invocation
		byStatus := map[statebackend.Status][]statebackend.InvocationID{}
		for i := range 120 {
			id := statebackend.InvocationID(fmt.Sprintf("est-%03d", i))
			invs = append(invs, statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: string(id)},
				Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}})
			st := statebackend.StatusSuccess
			switch {
			case i%10 == 0:
				st = statebackend.StatusFailed
			case i%4 == 0:
				st = statebackend.StatusRunning
			}
			byStatus[st] = append(byStatus[st], id)
		}
		if err := b.UpsertInvocations(ctx, invs); err != nil {
			t.Fatal(err)
		}
		for st, ids := range byStatus {
			h := statebackend.InvocationHistory{Timestamp: at, StatusRecord: statebackend.StatusRecord{Status: st, Timestamp: at}}
			if err := b.AddHistory(ctx, ids, h); err != nil {
				t.Fatal(err)
			}
		}
		exact, err := b.CountInvocations(ctx, state.InvocationFilter{}, false)
		if err != nil {
			t.Fatal(err)
		}
		postgres := strings.HasSuffix(t.Name(), "/postgres")
		if postgres {
			analyzePostgres(t, "browse_es") // long app ids are shortened on Postgres
		}
		got, estimated, err := b.EstimateInvocations(ctx, state.InvocationFilter{}, false)
		if err != nil || estimated != postgres || !reflect.DeepEqual(got, exact) {
			t.Fatalf("EstimateInvocations = %+v, %t, %v; want %+v, estimated %t", got, estimated, err, exact, postgres)
		}
		onlyFailed := state.InvocationFilter{Statuses: []statebackend.Status{statebackend.StatusFailed}}
		got, estimated, err = b.EstimateInvocations(ctx, onlyFailed, false)
		want := []state.StatusCount{{Status: statebackend.StatusFailed, Count: int64(len(byStatus[statebackend.StatusFailed]))}}
		if err != nil || estimated != postgres || !reflect.DeepEqual(got, want) {
			t.Fatalf("EstimateInvocations(failed) = %+v, %t, %v; want %+v", got, estimated, err, want)
		}
		for _, c := range []struct {
			f      state.InvocationFilter
			byTask bool
		}{{state.InvocationFilter{Tasks: []statebackend.TaskID{task}}, false}, {state.InvocationFilter{}, true}} {
			want, err := b.CountInvocations(ctx, c.f, c.byTask)
			if err != nil {
				t.Fatal(err)
			}
			got, estimated, err := b.EstimateInvocations(ctx, c.f, c.byTask)
			if err != nil || estimated || !reflect.DeepEqual(got, want) {
				t.Fatalf("EstimateInvocations(%+v, %t) = %+v, %t, %v; want the exact %+v", c.f, c.byTask, got, estimated, err, want)
			}
		}
		if _, _, err := b.EstimateInvocations(ctx, state.InvocationFilter{Statuses: []statebackend.Status{"nope"}}, false); !errors.Is(err, statebackend.ErrInvalidArgument) {
			t.Fatalf("EstimateInvocations with an unknown status: %v, want ErrInvalidArgument", err)
		}
	})
}

// analyzePostgres runs ANALYZE, as autovacuum would, on the current-status
// tables of the apps whose table names start with prefix.
func analyzePostgres(t *testing.T, prefix string) {
	t.Helper()
	db, err := gorm.Open(postgres.Open(pgtest.DSN(t)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var tables []string
	err = db.Raw("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, ?) AND tablename LIKE ?",
		prefix, "%"+entities.Base+"_invocation_status").Scan(&tables).Error
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatalf("no current-status table starts with %q", prefix)
	}
	for _, name := range tables {
		if err := db.Exec("ANALYZE ?", clause.Table{Name: name}).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCountInvocationsUpToLargeSets checks bounded counts where the
// filter's members are more than a listing reads by id: a parent with
// 2,600 children (the members read by id stop at 2,000), of which 2,500
// have history, 40 of them failed; and the same without a member filter.
func TestCountInvocationsUpToLargeSets(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, "browse-upto", func(t *testing.T, b *statebackend.Store) {
		ctx := t.Context()
		task := statebackend.TaskID{Module: "upto.tasks", FuncName: "child"}
		root := statebackend.InvocationID("root")
		wf := statebackend.WorkflowIdentity{WorkflowID: root, WorkflowType: task}
		const children, withHistory, failed = 2600, 2500, 40
		invs := make([]statebackend.Invocation, 0, children)
		var done, bad []statebackend.InvocationID
		for i := range children {
			id := statebackend.InvocationID(fmt.Sprintf("child-%04d", i))
			invs = append(invs, statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: string(id)},
				Workflow: wf, ParentInvocationID: root})
			switch {
			case i >= withHistory:
			case i%64 == 0: // 40 of the 2,500
				bad = append(bad, id)
			default:
				done = append(done, id)
			}
		}
		if err := b.UpsertInvocations(ctx, invs); err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Add(-time.Minute)
		for _, w := range []struct {
			ids []statebackend.InvocationID
			st  statebackend.Status
		}{{done, statebackend.StatusSuccess}, {bad, statebackend.StatusFailed}} {
			h := statebackend.InvocationHistory{Timestamp: at, StatusRecord: statebackend.StatusRecord{Status: w.st, Timestamp: at}}
			if err := b.AddHistory(ctx, w.ids, h); err != nil {
				t.Fatal(err)
			}
		}
		failedOnly := []statebackend.Status{statebackend.StatusFailed}
		for _, c := range []struct {
			name     string
			f        state.InvocationFilter
			limit    int
			complete bool
			want     []state.StatusCount
		}{
			{"children, limit 2000", state.InvocationFilter{ParentInvocationID: root}, 2000, false, nil},
			{"children, limit 1", state.InvocationFilter{ParentInvocationID: root}, 1, false, nil},
			{"failed children, limit 40", state.InvocationFilter{ParentInvocationID: root, Statuses: failedOnly}, 40, true,
				[]state.StatusCount{{Status: statebackend.StatusFailed, Count: failed}}},
			{"failed children, limit 39", state.InvocationFilter{ParentInvocationID: root, Statuses: failedOnly}, 39, false, nil},
			{"failed in the run, by task", state.InvocationFilter{WorkflowID: root, Statuses: failedOnly}, 2000, true,
				[]state.StatusCount{{Task: task, Status: statebackend.StatusFailed, Count: failed}}},
			{"failed, no member filter", state.InvocationFilter{Statuses: failedOnly}, 100, true,
				[]state.StatusCount{{Status: statebackend.StatusFailed, Count: failed}}},
			{"everything, no member filter", state.InvocationFilter{}, 2000, false, nil},
		} {
			byTask := strings.Contains(c.name, "by task")
			got, complete, err := b.CountInvocationsUpTo(ctx, c.f, byTask, c.limit)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if complete != c.complete || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%s: counts %+v, complete %v; want %+v, %v", c.name, got, complete, c.want, c.complete)
			}
		}
		// Listings of the large set read each status's joined invocation:
		// every child with history once, in order, and the failed ones.
		for _, c := range []struct {
			f    state.InvocationFilter
			want int
		}{
			{state.InvocationFilter{ParentInvocationID: root}, withHistory},
			{state.InvocationFilter{WorkflowID: root, Statuses: failedOnly}, failed},
		} {
			seen := map[statebackend.InvocationID]bool{}
			page := state.PageRequest{Limit: 700}
			for {
				p, err := b.ListInvocations(ctx, c.f, page)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range p.Invocations {
					if seen[s.ID] || s.ParentInvocationID != root || (len(c.f.Statuses) > 0 && s.Status.Status != statebackend.StatusFailed) {
						t.Fatalf("ListInvocations(%+v): %s listed twice or not matching (%+v)", c.f, s.ID, s)
					}
					if i > 0 && s.ChangedAt.After(p.Invocations[i-1].ChangedAt) {
						t.Fatalf("ListInvocations(%+v): not newest first at %s", c.f, s.ID)
					}
					seen[s.ID] = true
				}
				if p.Next == "" {
					break
				}
				page.After = p.Next
			}
			if len(seen) != c.want {
				t.Fatalf("ListInvocations(%+v) listed %d invocations, want %d", c.f, len(seen), c.want)
			}
		}
		if _, _, err := b.CountInvocationsUpTo(ctx, state.InvocationFilter{}, false, state.MaxCountLimit+1); !errors.Is(err, state.ErrInvalidArgument) {
			t.Fatalf("limit over MaxCountLimit: %v, want ErrInvalidArgument", err)
		}
	})
}
