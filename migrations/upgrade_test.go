package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/state"
)

// TestUpgradeKeepsData proves that a database v0.1.0 created, with data in
// every table, upgrades in place with nothing lost: the data is written
// through the library into one app, copied row by row into the tables of
// a second app made from v0.1.0's DDL, and the second app, opened (and so
// migrated), reads back exactly what the first does, then takes new
// writes.
func TestUpgradeKeepsData(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		ctx := t.Context()
		src, ds, app := version1Copy(t, db)
		st, err := db.migrator(t, app).Status(ctx)
		if err != nil || st.Version != 1 || st.Recorded {
			t.Fatalf("Status of the copied v0.1.0 app = %+v, %v; want version 1, not recorded", st, err)
		}
		upgraded, err := db.open(t, app)
		if err != nil {
			t.Fatalf("Open of a v0.1.0 database with data: %v", err)
		}
		want := ds.dump(t, src)
		got := ds.dump(t, upgraded)
		// The app info row holds the source app's id; both read it alike.
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after the upgrade the data reads\n%+v\nbefore it read\n%+v", got, want)
		}
		// The backfill derived the current statuses the source's triggers
		// kept as it was written.
		wantBrowse, gotBrowse := browseAll(t, src), browseAll(t, upgraded)
		if !reflect.DeepEqual(gotBrowse, wantBrowse) {
			t.Fatalf("after the upgrade the current statuses read\n%+v\nwritten live they read\n%+v", gotBrowse, wantBrowse)
		}
		if len(wantBrowse.list) == 0 {
			t.Fatal("the dataset lists no invocation")
		}
		// And the upgraded app takes writes, in order after the old ones.
		late := ds.base.Add(time.Hour)
		h := statebackend.InvocationHistory{Timestamp: late, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusSuccess, Timestamp: late}}
		if err := upgraded.AddHistory(ctx, []statebackend.InvocationID{ds.root}, h); err != nil {
			t.Fatal(err)
		}
		hist, err := upgraded.History(ctx, ds.root)
		if err != nil || len(hist) != len(want.History[ds.root])+1 || !hist[len(hist)-1].Timestamp.Equal(late) {
			t.Fatalf("History after a new record = %v, %v", hist, err)
		}
	})
}

// version1Copy writes the upgrade dataset through the library into a new
// app (src) and copies its rows into the tables of another new app made
// from v0.1.0's DDL (app), which is left at version 1 for the test to
// upgrade.
func version1Copy(t *testing.T, db *schemaDB) (src statebackend.Backend, ds *upgradeDataset, app string) {
	t.Helper()
	source := db.newAppID(t)
	src, err := db.open(t, source)
	if err != nil {
		t.Fatal(err)
	}
	ds = newUpgradeDataset(source)
	ds.write(t, src)
	app = db.newAppID(t)
	db.createVersion1(t, app, false)
	copyVersion1Rows(t, db, source, app)
	return src, ds, app
}

// copyVersion1Rows copies every row of the version-1 tables of app from
// into those of app to, history in id order (the ids are assigned anew,
// in the same order, so the database's own id sequence stays right).
func copyVersion1Rows(t *testing.T, db *schemaDB, from, to string) {
	t.Helper()
	src, dst := db.tables(t, from), db.tables(t, to)
	gdb := db.gormFor(t, from)
	for _, m := range schematest.Version1Models() {
		cols, err := gdb.Migrator().ColumnTypes(src.Name(m))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cols {
			if m == "History" && c.Name() == "id" {
				continue
			}
			names = append(names, c.Name())
		}
		list := strings.Join(names, ", ")
		order := ""
		if m == "History" {
			order = " ORDER BY id"
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s%s", dst.Name(m), list, list, src.Name(m), order)
		res := db.raw.Exec(q)
		if res.Error != nil {
			t.Fatalf("%s: %v", q, res.Error)
		}
		if res.RowsAffected == 0 {
			t.Fatalf("%s copied no row: the dataset leaves table %s empty", q, src.Name(m))
		}
	}
}

// upgradeDataset is data in every table: a workflow with a child, a
// sub-workflow and its child, a standalone invocation, history (with a
// tie), history of an id never upserted, results, exceptions, workflow
// runs, workflow data, sub-invocation sets, a runner chain and app info.
type upgradeDataset struct {
	appID                          string
	base                           time.Time
	root, child, sub, grand, alone statebackend.InvocationID
	orphan                         statebackend.InvocationID // history, never upserted
	invs                           []statebackend.Invocation
	runner                         statebackend.RunnerContext
}

func newUpgradeDataset(appID string) *upgradeDataset {
	ds := &upgradeDataset{
		appID: appID, base: time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC),
		root: "wf-root", child: "wf-child", sub: "wf-sub", grand: "wf-grandchild", alone: "standalone ✓",
		orphan: "orphan-history",
	}
	task := func(name string) statebackend.TaskID { return statebackend.TaskID{Module: "app.tasks", FuncName: name} }
	rootWF := statebackend.WorkflowIdentity{WorkflowID: ds.root, WorkflowType: task("main")}
	subWF := statebackend.WorkflowIdentity{WorkflowID: ds.sub, WorkflowType: task("nested"), ParentWorkflowID: ds.root}
	ds.invs = []statebackend.Invocation{
		{ID: ds.root, CallID: statebackend.CallID{Task: task("main"), ArgsID: "a1"}, Arguments: map[string]string{"x": "1"}, Workflow: rootWF},
		{ID: ds.child, CallID: statebackend.CallID{Task: task("step"), ArgsID: "a2"}, Arguments: map[string]string{"q": `"quoted" %_\`},
			Workflow: rootWF, ParentInvocationID: ds.root},
		{ID: ds.sub, CallID: statebackend.CallID{Task: task("nested"), ArgsID: "a3"}, Arguments: map[string]string{},
			Workflow: subWF, ParentInvocationID: ds.child},
		{ID: ds.grand, CallID: statebackend.CallID{Task: task("leaf"), ArgsID: "a4"}, Arguments: map[string]string{"emoji": "🦀"},
			Workflow: subWF, ParentInvocationID: ds.sub},
		{ID: ds.alone, CallID: statebackend.CallID{Task: task("solo"), ArgsID: statebackend.NoArgs},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: ds.alone, WorkflowType: task("solo")}},
	}
	ds.runner = statebackend.RunnerContext{RunnerCls: "ThreadRunner", RunnerID: "runner-child", PID: 42, Hostname: "host-a", ThreadID: 7,
		Parent: &statebackend.RunnerContext{RunnerCls: "PersistentProcessRunner", RunnerID: "runner-parent", PID: 41, Hostname: "host-a", ThreadID: 1}}
	return ds
}

// ids returns every invocation id the dataset writes history for.
func (ds *upgradeDataset) ids() []statebackend.InvocationID {
	out := []statebackend.InvocationID{ds.orphan}
	for _, inv := range ds.invs {
		out = append(out, inv.ID)
	}
	return out
}

func (ds *upgradeDataset) write(t *testing.T, b statebackend.Backend) {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("StoreAppInfo", b.StoreAppInfo(ctx, statebackend.AppInfo{AppID: ds.appID, Module: "app", ConfigValues: map[string]any{"k": "v", "n": 3.5}}))
	must("UpsertInvocations", b.UpsertInvocations(ctx, ds.invs))
	statuses := []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusPending, statebackend.StatusRunning, statebackend.StatusSuccess}
	for i, id := range ds.ids() {
		for j, s := range statuses {
			ts := ds.base.Add(time.Duration(i*10+j) * time.Millisecond)
			if j == 2 {
				ts = ds.base.Add(time.Duration(i*10+1) * time.Millisecond) // a tie with the record before
			}
			h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: s, RunnerID: "runner-child", Timestamp: ts},
				RunnerContextID: "runner-child", RegisteredByInvID: ds.root}
			must("AddHistory", b.AddHistory(ctx, []statebackend.InvocationID{id}, h))
		}
	}
	must("SetResult", b.SetResult(ctx, ds.root, []byte{0x80, 0, 0xff, 'r'}))
	must("SetResult", b.SetResult(ctx, ds.orphan, []byte{}))
	must("SetException", b.SetException(ctx, ds.sub, []byte("Traceback ✗")))
	for _, inv := range ds.invs {
		if inv.Workflow.WorkflowID == inv.ID {
			must("StoreWorkflowRun", b.StoreWorkflowRun(ctx, inv.Workflow))
		}
	}
	must("SetWorkflowData", b.SetWorkflowData(ctx, ds.root, "k1", []byte{1, 2, 3}))
	must("SetWorkflowData", b.SetWorkflowData(ctx, ds.sub, "k2", []byte("v2")))
	must("StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(ctx, ds.root, ds.child))
	must("StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(ctx, ds.root, ds.sub))
	must("StoreWorkflowSubInvocation", b.StoreWorkflowSubInvocation(ctx, ds.sub, ds.grand))
	must("StoreRunnerContext", b.StoreRunnerContext(ctx, ds.runner))
}

// upgradeDump is everything the dataset's reads return.
type upgradeDump struct {
	IDs         []statebackend.InvocationID
	Invocations map[statebackend.InvocationID]statebackend.Invocation
	History     map[statebackend.InvocationID][]statebackend.InvocationHistory
	Results     map[statebackend.InvocationID]string
	Exceptions  map[statebackend.InvocationID]string
	Runs        []statebackend.WorkflowIdentity
	Types       []statebackend.TaskID
	Data        map[string]string
	Subs        map[statebackend.InvocationID][]statebackend.InvocationID
	Runners     []statebackend.RunnerContext
	AppInfo     statebackend.AppInfo
	Range       []statebackend.InvocationHistory
	RangeIDs    []statebackend.InvocationID
}

func (ds *upgradeDataset) dump(t *testing.T, b statebackend.Backend) upgradeDump {
	t.Helper()
	ctx := t.Context()
	d := upgradeDump{
		History: map[statebackend.InvocationID][]statebackend.InvocationHistory{}, Results: map[statebackend.InvocationID]string{},
		Exceptions: map[statebackend.InvocationID]string{}, Data: map[string]string{}, Subs: map[statebackend.InvocationID][]statebackend.InvocationID{},
	}
	var err error
	check := func(what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	d.IDs, err = b.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
	check("InvocationIDsByWorkflow")
	d.Invocations, err = b.Invocations(ctx, d.IDs)
	check("Invocations")
	for _, id := range ds.ids() {
		d.History[id], err = b.History(ctx, id)
		check("History")
		if r, err := b.Result(ctx, id); err == nil {
			d.Results[id] = string(r)
		}
		if e, err := b.Exception(ctx, id); err == nil {
			d.Exceptions[id] = string(e)
		}
		d.Subs[id], err = b.WorkflowSubInvocations(ctx, id)
		check("WorkflowSubInvocations")
		for _, k := range []string{"k1", "k2"} {
			if v, err := b.WorkflowData(ctx, id, k); err == nil {
				d.Data[string(id)+"/"+k] = string(v)
			}
		}
	}
	d.Runs, err = b.WorkflowRuns(ctx)
	check("WorkflowRuns")
	d.Types, err = b.WorkflowTypes(ctx)
	check("WorkflowTypes")
	d.Runners, err = b.RunnerContexts(ctx, []string{"runner-child", "runner-parent"})
	check("RunnerContexts")
	d.AppInfo, err = b.AppInfo(ctx, ds.appID)
	check("AppInfo")
	for batch, err := range b.HistoryInTimeRange(ctx, ds.base.Add(-time.Hour), ds.base.Add(time.Hour), 3) {
		if err != nil {
			t.Fatalf("HistoryInTimeRange: %v", err)
		}
		d.Range = append(d.Range, batch...)
	}
	for batch, err := range b.InvocationIDsInTimeRange(ctx, ds.base.Add(-time.Hour), ds.base.Add(time.Hour), 2) {
		if err != nil {
			t.Fatalf("InvocationIDsInTimeRange: %v", err)
		}
		d.RangeIDs = append(d.RangeIDs, batch...)
	}
	if len(d.IDs) != len(ds.invs) || len(d.Results) != 2 || len(d.Exceptions) != 1 || len(d.Data) != 2 || len(d.Runners) != 2 ||
		len(d.Range) != 4*len(ds.ids()) {
		t.Fatalf("the dataset does not read back in full: %+v", d)
	}
	return d
}

// browsed is what a Browser says of a whole app: every invocation listed,
// and the counts per task and status.
type browsed struct {
	list   []state.InvocationSummary
	counts []state.StatusCount
}

// browseAll lists every invocation of b, page by page, and counts them.
func browseAll(t *testing.T, b statebackend.Backend) browsed {
	t.Helper()
	br, ok := b.(state.Browser)
	if !ok {
		t.Fatalf("%T does not implement state.Browser", b)
	}
	var out browsed
	page := state.PageRequest{Limit: 2}
	for {
		p, err := br.ListInvocations(t.Context(), state.InvocationFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		out.list = append(out.list, p.Invocations...)
		if p.Next == "" {
			break
		}
		page.After = p.Next
	}
	counts, err := br.CountInvocations(t.Context(), state.InvocationFilter{}, true)
	if err != nil {
		t.Fatal(err)
	}
	out.counts = counts
	return out
}

// TestBackfillResumes stops version 3's backfill after its second batch (a
// cancelled context, as a killed process would) and migrates again: the
// second run derives the rest and the current statuses equal those the
// triggers kept as the data was written. On Postgres and MySQL the
// committed batches are kept and the second run resumes after them; on
// SQLite the migration is one transaction, which the stop rolls back.
// Not parallel with other tests: it changes the backfill's batch size.
func TestBackfillResumes(t *testing.T) {
	t.Cleanup(migrations.SetBackfillBatch(2))
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		src, _, app := version1Copy(t, db)
		ctx, cancel := context.WithCancel(t.Context())
		var batches []string
		var mu sync.Mutex
		migrations.OnBackfillBatch(db.tables(t, app).Prefix(), func(last string) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, last)
			if len(batches) == 2 {
				cancel()
			}
		})
		_, err := db.migrator(t, app).Migrate(ctx, migrations.Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Migrate stopped after two batches = %v, want context.Canceled", err)
		}
		mu.Lock()
		first := slices.Clone(batches)
		batches = nil
		mu.Unlock()
		if _, err := db.migrator(t, app).Migrate(t.Context(), migrations.Options{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if db.kind != schematest.SQLite && (len(batches) == 0 || batches[0] <= first[1]) {
			t.Errorf("second run's batches end at %q, want them after the first run's %q", batches, first)
		}
		upgraded, err := db.open(t, app)
		if err != nil {
			t.Fatal(err)
		}
		if want, got := browseAll(t, src), browseAll(t, upgraded); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a resumed backfill the current statuses read\n%+v\nwritten live they read\n%+v", got, want)
		}
	})
}
