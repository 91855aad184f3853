package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver for the direct integrity check

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/sqlite"
)

// crashApp is the app id of the crash test: prefixed table names.
const crashApp = "crash-test"

// historyGroup is how many invocations one AddHistory call of the crash
// test writes to.
const historyGroup = 25

// TestCrashAtomicity proves that a writer killed with SIGKILL at any moment
// leaves the SQLite file consistent. A child process opens the file and
// writes, from two goroutines at once, batches of RELIABILITY_CRASH_BATCH
// (10,000) invocations in one UpsertInvocations call each, every batch with
// a marker of its own, and a stream of AddHistory calls of 25 invocations
// each; the parent lets one or two batches commit and kills it with
// SIGKILL a random fraction of a batch's duration after the next batch
// begins. After every kill (RELIABILITY_CRASH_RUNS times, with different
// delays, on the same file, so each run also opens a file a crash left
// behind) it proves that:
//   - SQLite's PRAGMA integrity_check, run directly through database/sql,
//     says "ok", and the file is still in WAL mode;
//   - each batch is entirely present or entirely absent (0 or 10,000 rows
//     per marker), and every batch whose call had returned before the kill
//     is present: a committed write survives the crash of its process;
//   - each AddHistory call is entirely present or absent (0 or 25 records),
//     every stored record decodes, and every call that had returned is
//     present;
//   - the backend opens the file and works normally: it reads back a batch
//     in full and writes and reads new data.
func TestCrashAtomicity(t *testing.T) {
	t.Parallel()
	sd := seed(t)
	runs := envInt(t, "RELIABILITY_CRASH_RUNS", 4)
	size := envInt(t, "RELIABILITY_CRASH_BATCH", 10000)
	path := filepath.Join(t.TempDir(), "crash.db")
	r := rng(sd, "crash")
	midBatch := 0
	// A kill may land after the batch committed (this process may be slow
	// to act on "begin"); then up to extraRuns more runs kill as soon as a
	// batch begins, until one lands while it is in flight.
	const extraRuns = 8
	for run := 0; run < runs || (midBatch == 0 && run < runs+extraRuns); run++ {
		c := startChild(t.Context(), t, "crash writer "+strconv.Itoa(run), "TestChildCrashWriter", "crash-writer",
			"RELIABILITY_DB="+path, "RELIABILITY_CRASH_RUN="+strconv.Itoa(run),
			"RELIABILITY_CRASH_BATCH="+strconv.Itoa(size), "RELIABILITY_SEED="+strconv.FormatUint(sd, 10))
		// Let one or two batches commit, then kill the next one a random
		// fraction of a batch's duration after it begins: early runs soon
		// after, later runs close to its commit.
		k := 1 + run%2
		took := 0
		for m := range k {
			line := c.expect(t, "commit "+crashMarker(run, m), 5*time.Minute)
			took, _ = strconv.Atoi(strings.TrimSuffix(field(line, "took"), "ms"))
		}
		c.expect(t, "begin "+crashMarker(run, k), time.Minute)
		var delay time.Duration
		if run < runs {
			width := max(took, 1) * 1000 / runs // microseconds
			delay = time.Duration(run*width+r.IntN(width+1)) * time.Microsecond
		}
		time.Sleep(delay)
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatalf("run %d: kill: %v", run, err)
		}
		lines, _ := c.wait()
		for _, l := range lines {
			if strings.HasPrefix(l, "error") {
				t.Fatalf("run %d: the writer failed before it was killed: %s", run, l)
			}
		}
		st := crashLog(lines)
		if st.inFlight {
			midBatch++
		}
		t.Logf("run %d: killed %v into batch %d (batches take ~%dms): %d batches and %d history calls had returned, batch in flight: %v",
			run, delay, k, took, len(st.batches), len(st.history), st.inFlight)
		verifyCrash(t, run, path, size, st)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d of the kills landed while a batch upsert was in flight", midBatch)
	if midBatch == 0 {
		t.Errorf("no kill landed while a batch upsert was in flight")
	}
}

// crashState is what the killed writer reported.
type crashState struct {
	batches  map[string]bool // markers whose upsert returned
	begun    map[string]bool // markers whose upsert was called
	history  map[string]bool // history groups whose AddHistory returned
	inFlight bool            // an upsert was called and had not returned
}

func crashLog(lines []string) crashState {
	st := crashState{batches: map[string]bool{}, begun: map[string]bool{}, history: map[string]bool{}}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "begin":
			st.begun[f[1]] = true
			st.inFlight = true
		case "commit":
			st.batches[f[1]] = true
			st.inFlight = false
		case "history":
			st.history[f[1]] = true
		}
	}
	return st
}

// verifyCrash checks the file after a kill.
func verifyCrash(t *testing.T, run int, path string, size int, st crashState) {
	t.Helper()
	tables, err := entities.NewTables(crashApp, 0)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil {
		t.Fatalf("run %d: integrity_check: %v", run, err)
	}
	if check != "ok" {
		t.Fatalf("run %d: integrity_check says %q", run, check)
	}

	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("run %d: journal mode %q (%v), want wal", run, mode, err)
	}

	counts := groupCounts(t, db, "SELECT arguments_id, COUNT(*) FROM "+tables.Name("Invocation")+
		" WHERE arguments_id LIKE 'r%-m%' GROUP BY arguments_id")
	for marker, n := range counts {
		if n != size {
			t.Errorf("run %d: batch %s has %d of its %d invocations", run, marker, n, size)
		}
		if strings.HasPrefix(marker, crashMarker(run, 0)[:3]) && !st.begun[marker] {
			t.Errorf("run %d: batch %s is stored but was never written", run, marker)
		}
	}
	for marker := range st.batches {
		if counts[marker] == 0 {
			t.Errorf("run %d: batch %s is missing although its upsert returned before the kill", run, marker)
		}
	}

	groups := groupCounts(t, db, "SELECT substr(invocation_id, 1, length(invocation_id) - 4), COUNT(*) FROM "+
		tables.Name("History")+" WHERE invocation_id LIKE 'h-%' GROUP BY 1")
	for g, n := range groups {
		if n != historyGroup {
			t.Errorf("run %d: history call %s has %d of its %d records", run, g, n, historyGroup)
		}
	}
	for g := range st.history {
		if groups[g] == 0 {
			t.Errorf("run %d: history call %s is missing although it returned before the kill", run, g)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The backend opens the file and works normally.
	ctx := t.Context()
	b, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID(crashApp))
	if err != nil {
		t.Fatalf("run %d: reopen: %v", run, err)
	}
	defer b.Close()
	for marker := range st.batches {
		want := crashBatch(marker, size)
		ids := make([]statebackend.InvocationID, len(want))
		for i, inv := range want {
			ids[i] = inv.ID
		}
		got, err := b.Invocations(ctx, ids)
		if err != nil {
			t.Fatalf("run %d: Invocations of batch %s: %v", run, marker, err)
		}
		for _, inv := range want {
			if !reflect.DeepEqual(got[inv.ID], normalized(inv)) {
				t.Fatalf("run %d: invocation %s reads %+v, want %+v", run, inv.ID, got[inv.ID], normalized(inv))
			}
		}
		break // one batch in full is enough; the counts cover the others
	}
	records := 0
	for batch, err := range b.HistoryInTimeRange(ctx, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 1000) {
		if err != nil {
			t.Fatalf("run %d: history scan: %v", run, err)
		}
		records += len(batch)
	}
	if want := historyGroup*len(groups) + run; records != want { // + one record per earlier run, below
		t.Errorf("run %d: history scan read %d records, want %d", run, records, want)
	}
	id := statebackend.InvocationID(fmt.Sprintf("after-crash-%d", run))
	inv := invocation(0, id, id, 1)
	h := statebackend.InvocationHistory{
		Timestamp:    time.Now(),
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusSuccess, Timestamp: time.Now()},
	}
	if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
		t.Fatalf("run %d: write after crash: %v", run, err)
	}
	if err := b.AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
		t.Fatalf("run %d: AddHistory after crash: %v", run, err)
	}
	if err := b.SetResult(ctx, id, []byte("ok")); err != nil {
		t.Fatalf("run %d: SetResult after crash: %v", run, err)
	}
	if got, err := b.Invocation(ctx, id); err != nil || !reflect.DeepEqual(got, normalized(inv)) {
		t.Fatalf("run %d: read after crash: %+v, %v", run, got, err)
	}
	if got, err := b.History(ctx, id); err != nil || len(got) != 1 {
		t.Fatalf("run %d: History after crash: %v, %v", run, got, err)
	}
	if got, err := b.Result(ctx, id); err != nil || string(got) != "ok" {
		t.Fatalf("run %d: Result after crash: %q, %v", run, got, err)
	}
}

// journalMode returns the journal mode of the SQLite file at path, read
// directly through database/sql.
func journalMode(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	return mode
}

// groupCounts runs a "SELECT key, COUNT(*) ... GROUP BY" query.
func groupCounts(t *testing.T, db *sql.DB, query string) map[string]int {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// crashMarker names batch m of run r; it is also the ArgsID of the batch's
// invocations.
func crashMarker(run, m int) string { return fmt.Sprintf("r%02d-m%04d", run, m) }

// crashBatch returns the invocations of the batch marked marker.
func crashBatch(marker string, size int) []statebackend.Invocation {
	invs := make([]statebackend.Invocation, size)
	root := statebackend.InvocationID(marker + "-i00000")
	for i := range invs {
		id := statebackend.InvocationID(fmt.Sprintf("%s-i%05d", marker, i))
		task := statebackend.TaskID{Module: "reliability.crash", FuncName: "task" + strconv.Itoa(i%7)}
		invs[i] = statebackend.Invocation{
			ID:        id,
			CallID:    statebackend.CallID{Task: task, ArgsID: marker},
			Arguments: map[string]string{"i": strconv.Itoa(i), "marker": marker},
			Workflow:  statebackend.WorkflowIdentity{WorkflowID: root, WorkflowType: task},
		}
		if i > 0 {
			invs[i].ParentInvocationID = root
		}
	}
	return invs
}

// TestChildCrashWriter is the writer process TestCrashAtomicity kills: it
// upserts batches and adds history from two goroutines until it dies.
func TestChildCrashWriter(t *testing.T) {
	childRole(t, "crash-writer")
	run, _ := strconv.Atoi(os.Getenv("RELIABILITY_CRASH_RUN"))
	size := envInt(t, "RELIABILITY_CRASH_BATCH", 10000)
	b, err := statebackend.Open(sqlite.Open(os.Getenv("RELIABILITY_DB")), statebackend.WithAppID(crashApp))
	if err != nil {
		say("error open: %v", err)
		t.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	batches := make(chan []statebackend.Invocation, 1)
	batches <- crashBatch(crashMarker(run, 0), size)
	go func() { // prepares the next batch while the current one is written
		for m := 1; ctx.Err() == nil; m++ {
			batches <- crashBatch(crashMarker(run, m), size)
		}
	}()
	errs := make(chan error, 2)
	say("started")
	go func() {
		for m := 0; ; m++ {
			batch := <-batches
			say("begin %s", crashMarker(run, m))
			start := time.Now()
			if err := b.UpsertInvocations(ctx, batch); err != nil {
				errs <- fmt.Errorf("upsert %s: %w", crashMarker(run, m), err)
				return
			}
			say("commit %s took=%dms", crashMarker(run, m), time.Since(start).Milliseconds())
		}
	}()
	go func() {
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(run) * time.Hour)
		for s := 0; ; s++ {
			group := fmt.Sprintf("h-r%02d-s%05d", run, s)
			ids := make([]statebackend.InvocationID, historyGroup)
			for j := range ids {
				ids[j] = statebackend.InvocationID(fmt.Sprintf("%s-j%02d", group, j))
			}
			ts := base.Add(time.Duration(s) * time.Millisecond)
			h := statebackend.InvocationHistory{
				Timestamp:       ts,
				StatusRecord:    statebackend.StatusRecord{Status: statebackend.StatusRunning, RunnerID: group, Timestamp: ts},
				RunnerContextID: "crash-runner",
			}
			if err := b.AddHistory(ctx, ids, h); err != nil {
				errs <- fmt.Errorf("history %s: %w", group, err)
				return
			}
			say("history %s", group)
		}
	}()
	err = <-errs
	say("error %v", err)
	t.Fatal(err)
}
