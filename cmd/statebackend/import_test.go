package main

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/sqlite"
)

// loadFixture writes a pynenc fixture (SQL text) to a new SQLite file.
func loadFixture(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pynenc.db")
	if err := loadSQL(path, filepath.Join("testdata", "pynenc", name)); err != nil {
		t.Fatal(err)
	}
	return path
}

// The ids of the fixtures' invocations (the unprefixed file's).
const (
	fxTop   = statebackend.InvocationID("00001001-1c2d-4e5f-8a9b-0000003e8001")
	fxTick  = statebackend.InvocationID("00001002-1c2d-4e5f-8a9b-0000003e8002")
	fxChild = statebackend.InvocationID("00001003-1c2d-4e5f-8a9b-0000003e8003")
	fxSub   = statebackend.InvocationID("00001004-1c2d-4e5f-8a9b-0000003e8004")
)

// TestImportPynenc imports the file of pynenc's older, unprefixed layout
// and checks what the library's API returns against the file's rows.
func TestImportPynenc(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := loadFixture(t, "unprefixed.sql")
	dst := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	runCLI(t, "import-pynenc", "--from", src, "--to", dst, "--batch", "3")
	b := openURL(t, dst, "")

	info, err := b.AppInfo(ctx, "pynenc_app")
	if err != nil {
		t.Fatal(err)
	}
	if info.Module != "myapp.tasks" || info.ModuleFilepath != "/srv/myapp/tasks.py" || info.ConfigFilepath != "" ||
		info.AppVariable != "app" || info.ConfigValues["runner_cls"] != "ThreadRunner" {
		t.Errorf("app info: %+v", info)
	}

	fetch := statebackend.TaskID{Module: "myapp.tasks", FuncName: "add"}
	flow := statebackend.TaskID{Module: "myapp.tasks", FuncName: "flow"}
	for _, tc := range []struct {
		id     statebackend.InvocationID
		args   map[string]string
		parent statebackend.InvocationID
		wf     statebackend.WorkflowIdentity
	}{
		{fxTop, map[string]string{"x": "1", "y": "2"}, "", statebackend.WorkflowIdentity{WorkflowID: fxTop, WorkflowType: fetch}},
		{fxTick, map[string]string{}, "", statebackend.WorkflowIdentity{WorkflowID: fxTick, WorkflowType: statebackend.TaskID{Module: "myapp.tasks", FuncName: "tick"}}},
		{fxChild, map[string]string{"x": "3", "y": `"quatre"`}, fxTop, statebackend.WorkflowIdentity{WorkflowID: fxTop, WorkflowType: fetch}},
		{fxSub, map[string]string{}, fxTop, statebackend.WorkflowIdentity{WorkflowID: fxSub, WorkflowType: flow, ParentWorkflowID: fxTop}},
	} {
		inv, err := b.Invocation(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Arguments == nil || !maps.Equal(inv.Arguments, tc.args) || inv.ParentInvocationID != tc.parent || inv.Workflow != tc.wf {
			t.Errorf("invocation %s: %+v", tc.id, inv)
		}
	}

	// Every history, in the order of the file's timestamps, as the file's
	// JSON documents say (microseconds and all).
	want := fixtureHistories(t, src, "state_backend_history")
	for id, recs := range want {
		got, err := b.History(ctx, statebackend.InvocationID(id))
		if err != nil {
			t.Fatal(err)
		}
		if !equalHistory(got, recs) {
			t.Errorf("history of %s:\n got %v\nwant %v", id, got, recs)
		}
	}
	// A naive timestamp is UTC.
	tick, _ := b.History(ctx, fxTick)
	if len(tick) != 1 || !tick[0].Timestamp.Equal(time.Date(2025, 1, 15, 12, 1, 40, 500000000, time.UTC)) {
		t.Errorf("history of the tick: %v", tick)
	}
	child, _ := b.History(ctx, fxChild)
	if len(child) != 4 || child[0].RegisteredByInvID != fxTop || child[0].StatusRecord.RunnerID != "" {
		t.Errorf("history of the child: %v", child)
	}

	rc, err := b.RunnerContext(ctx, "ThreadRunner@worker-1-4096-t1")
	if err != nil {
		t.Fatal(err)
	}
	if rc.PID != 4321 || rc.ThreadID != 140001 || rc.Hostname != "worker-1" || rc.Parent == nil ||
		rc.Parent.RunnerID != "PersistentProcessRunner@worker-1-4096" || rc.Parent.Parent != nil {
		t.Errorf("runner context: %+v (parent %+v)", rc, rc.Parent)
	}
	for id, want := range map[statebackend.InvocationID]string{fxTop: "3", fxChild: `"3quatre"`} {
		if got, err := b.Result(ctx, id); err != nil || string(got) != want {
			t.Errorf("result of %s: %q, %v", id, got, err)
		}
	}
	if got, err := b.Exception(ctx, fxSub); err != nil || string(got) != `{"error_name": "ValueError", "pynenc_error": false, "error_data": "{\"args\": [\"flow failed\"]}"}` {
		t.Errorf("exception: %q, %v", got, err)
	}
	runs, err := b.WorkflowRuns(ctx)
	if err != nil || !slices.Equal(runs, []statebackend.WorkflowIdentity{
		{WorkflowID: fxTop, WorkflowType: fetch}, {WorkflowID: fxSub, WorkflowType: flow, ParentWorkflowID: fxTop},
	}) {
		t.Errorf("workflow runs: %v, %v", runs, err)
	}
	if subs, err := b.WorkflowSubInvocations(ctx, fxTop); err != nil || !slices.Equal(subs, []statebackend.InvocationID{fxChild, fxSub}) {
		t.Errorf("sub-invocations: %v, %v", subs, err)
	}
	if v, err := b.WorkflowData(ctx, fxTop, "counter"); err != nil || string(v) != "5" {
		t.Errorf("workflow data: %q, %v", v, err)
	}
}

// TestImportPynencTwoAppsToPostgres imports one app of a file of the
// current, prefixed layout into Postgres.
func TestImportPynencTwoAppsToPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	src := loadFixture(t, "two_apps.sql")
	runCLI(t, "--app", "billing-v2", "import-pynenc", "--from", src, "--to", dsn)
	b := openURL(t, dsn, "billing-v2")
	want := fixtureHistories(t, src, "billing_v2_bae32160__state_backend_history")
	for id, recs := range want {
		got, err := b.History(ctx, statebackend.InvocationID(id))
		if err != nil {
			t.Fatal(err)
		}
		if !equalHistory(got, recs) {
			t.Errorf("history of %s:\n got %v\nwant %v", id, got, recs)
		}
	}
	if info, err := b.AppInfo(ctx, "billing-v2"); err != nil || info.Module != "shop.billing" {
		t.Errorf("app info: %+v, %v", info, err)
	}
	ids, err := b.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
	if err != nil || len(ids) != 4 {
		t.Errorf("invocations: %v, %v", ids, err)
	}
	// The other app of the file stayed out: no tables, no app info.
	u, err := parseDBURL("--db", dsn)
	if err != nil {
		t.Fatal(err)
	}
	m := schematest.Migrator(t, u.dialector(), "orders")
	if st, err := m.Status(ctx); err != nil || st.Version != 0 {
		t.Errorf("app orders: schema %+v, %v; want no tables", st, err)
	}
	infos, err := b.DiscoverAppInfos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := infos["orders"]; ok {
		t.Error("app orders was imported too")
	}
}

// fixtureHistories reads a pynenc history table directly: each
// invocation's records in timestamp order, decoded from their JSON.
func fixtureHistories(t *testing.T, path, table string) map[string][]statebackend.InvocationHistory {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT invocation_id, history_json FROM "` + table + `" ORDER BY history_timestamp`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]statebackend.InvocationHistory{}
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			t.Fatal(err)
		}
		var h statebackend.InvocationHistory
		if err := h.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		h.InvocationID = statebackend.InvocationID(id)
		out[id] = append(out[id], h)
	}
	if len(out) == 0 {
		t.Fatalf("no history in %s", table)
	}
	return out
}

// TestImportPynencHistoryOrder imports, a few records a page, a history
// whose rows were inserted out of timestamp order, with equal timestamps
// across invocations, and checks that the target holds it in the file's
// order: by timestamp, equal timestamps in the order of their rows.
func TestImportPynencHistoryOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := loadFixture(t, "unprefixed.sql")
	db, err := sql.Open(sqlite.DriverName, "file:"+src)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	// Inserted in this order; the seconds after base are the timestamps.
	for _, r := range []struct {
		id     statebackend.InvocationID
		status string
		after  int
	}{
		{fxTop, "retry", 3}, {fxChild, "retry", 1}, {fxSub, "retry", 2}, {fxTick, "retry", 1},
		{fxTop, "pending_recovery", 1}, {fxSub, "pending_recovery", 3}, {fxChild, "pending_recovery", 2},
		{fxTick, "pending_recovery", 3}, {fxTop, "rerouted", 2},
	} {
		ts := base.Add(time.Duration(r.after) * time.Second)
		iso := ts.Format("2006-01-02T15:04:05.000000+00:00")
		doc := `{"invocation_id": "` + string(r.id) + `", "_timestamp": "` + iso + `", "status_record": {"status": "` + r.status +
			`", "runner_id": null, "timestamp": "` + iso + `"}, "runner_context_id": null, "registered_by_inv_id": null}`
		if _, err := db.Exec(`INSERT INTO state_backend_history (invocation_id, history_timestamp, history_status, history_json) VALUES (?, ?, ?, ?)`,
			string(r.id), float64(ts.UnixMicro())/1e6, r.status, doc); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	rows, err := db.Query(`SELECT invocation_id, history_status FROM state_backend_history ORDER BY history_timestamp, rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		want = append(want, id+" "+status)
	}
	if err := errors.Join(rows.Err(), rows.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}

	dst := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	runCLI(t, "import-pynenc", "--from", src, "--to", dst, "--batch", "2")
	var got []string
	for recs, err := range openURL(t, dst, "").HistoryInTimeRange(ctx, time.Unix(0, 0), base.Add(time.Hour), 100) {
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range recs {
			got = append(got, string(h.InvocationID)+" "+string(h.StatusRecord.Status))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the target's history in timestamp order:\n%s\nwant the file's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
