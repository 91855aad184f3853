package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// TestMultiProcessSQLite proves that several OS processes can share one
// SQLite file as the design promises: RELIABILITY_PROCS writer processes
// (each with RELIABILITY_GOROUTINES goroutines) and one reader process open a
// file that does not exist yet at the same moment (so they race to create
// the schema), then write invocations in small batches (overwriting earlier
// ones, with a repeated id in each batch), four history records per
// invocation (two with equal timestamps) and a binary result per
// invocation, while the reader scans time ranges without pause.
//
// It proves that:
//   - no call in any process returns an error (a child exits non-zero on the
//     first one, "database is locked" included), and every child finishes
//     all its operations;
//   - each writer reads its own writes back at once, from another
//     connection of its pool;
//   - the reader's scans are always well-formed while writers run: records
//     ascending by timestamp, ids ascending and unique, every record exactly
//     as written, nothing seen by one scan missing from the next;
//   - afterwards the file holds exactly what was written: every invocation
//     equal to its last version, every history complete and in order, every
//     result byte for byte, and nothing else.
func TestMultiProcessSQLite(t *testing.T) {
	t.Parallel()
	cfg := mpConfigFromEnv(t)
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	begin := time.Now()

	env := append(cfg.env(), "RELIABILITY_DB="+path)
	var writers []*child
	for p := range cfg.Procs {
		writers = append(writers, startChild(ctx, t, "writer "+strconv.Itoa(p), "TestChildSQLiteWriter",
			"sqlite-writer", append(env, "RELIABILITY_PROC_INDEX="+strconv.Itoa(p))...))
	}
	reader := startChild(ctx, t, "reader", "TestChildSQLiteReader", "sqlite-reader", env...)
	all := append(slices.Clone(writers), reader)
	for _, c := range all {
		c.expect(t, "ready", 2*time.Minute)
	}
	// Release every process at once: all of them open the missing file now.
	for _, c := range all {
		if _, err := fmt.Fprintln(c.stdin, "go"); err != nil {
			t.Fatalf("release %s: %v", c.name, err)
		}
	}
	for _, c := range writers {
		lines, code := c.wait()
		if code != 0 {
			t.Errorf("%s exited with code %d; output:\n%s", c.name, code, c.output())
			continue
		}
		want := cfg.Goroutines * cfg.Ops
		if n := countPrefix(lines, "done"); n != 1 {
			t.Errorf("%s: said \"done\" %d times, want once; output:\n%s", c.name, n, c.output())
		} else if got, _ := strconv.Atoi(field(lastPrefix(lines, "done"), "ops")); got != want {
			t.Errorf("%s: completed %d operations, want %d", c.name, got, want)
		}
	}
	writing := time.Since(begin)
	warnings := map[string]int{} // the backends' retries, by message
	for _, c := range all {
		for _, line := range strings.Split(c.output(), "\n") {
			if _, rest, ok := strings.Cut(line, "level=WARN msg="); ok {
				msg, _ := strconv.QuotedPrefix(rest)
				warnings[msg]++
			}
		}
	}
	_ = reader.stdin.Close() // tells the reader to stop
	lines, code := reader.wait()
	if code != 0 {
		t.Errorf("reader exited with code %d; output:\n%s", code, reader.output())
	} else if line := lastPrefix(lines, "done"); line == "" || field(line, "scans") == "0" {
		t.Errorf("reader finished no scan; output:\n%s", reader.output())
	} else {
		t.Logf("reader: %s", line)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d processes x %d goroutines x %d operations written in %v; retries inside the backends: %v",
		cfg.Procs, cfg.Goroutines, cfg.Ops, writing.Round(time.Millisecond), warnings)
	verifyMultiProcess(t, cfg, path)
}

// mpConfig sizes a multi-process run; children get it through the
// environment.
type mpConfig struct {
	Seed                   uint64
	Procs, Goroutines, Ops int
}

func (c mpConfig) env() []string {
	return []string{
		"RELIABILITY_SEED=" + strconv.FormatUint(c.Seed, 10),
		"RELIABILITY_PROCS=" + strconv.Itoa(c.Procs),
		"RELIABILITY_GOROUTINES=" + strconv.Itoa(c.Goroutines),
		"RELIABILITY_OPS=" + strconv.Itoa(c.Ops),
	}
}

// mpConfigFromEnv reads RELIABILITY_SEED, _PROCS, _GOROUTINES and _OPS.
func mpConfigFromEnv(t *testing.T) mpConfig {
	return mpConfig{
		Seed:       seed(t),
		Procs:      envInt(t, "RELIABILITY_PROCS", 4),
		Goroutines: envInt(t, "RELIABILITY_GOROUTINES", 4),
		Ops:        envInt(t, "RELIABILITY_OPS", 30),
	}
}

// mpBase is the earliest history timestamp of a run; its microseconds catch
// precision loss.
var mpBase = time.Date(2026, 3, 1, 0, 0, 0, 7000, time.UTC)

// mpSlot is the time given to one operation's history records.
const mpSlot = 10 * time.Millisecond

// batchIDs returns the ids operation k of goroutine g of process p writes:
// one to four, the first the workflow root of the others.
func (c mpConfig) batchIDs(p, g, k int) []statebackend.InvocationID {
	n := 1 + rng(c.Seed, fmt.Sprintf("size/%d/%d/%d", p, g, k)).IntN(4)
	ids := make([]statebackend.InvocationID, n)
	for j := range ids {
		ids[j] = statebackend.InvocationID(fmt.Sprintf("p%d-g%d-k%04d-j%d", p, g, k, j))
	}
	return ids
}

// batch returns the invocations of batchIDs(p, g, k) at version v.
func (c mpConfig) batch(p, g, k, v int) []statebackend.Invocation {
	ids := c.batchIDs(p, g, k)
	out := make([]statebackend.Invocation, len(ids))
	for j, id := range ids {
		out[j] = invocation(c.Seed, id, ids[0], v)
	}
	return out
}

// records returns the history operation k of goroutine g of process p adds
// to each of its invocations, in order: registered, pending and running
// (pending and running with equal timestamps, so only insertion order tells
// them apart), success.
func (c mpConfig) records(p, g, k int, root statebackend.InvocationID) []statebackend.InvocationHistory {
	t0 := mpBase.Add(time.Duration((k*c.Procs+p)*c.Goroutines+g) * mpSlot)
	runner := fmt.Sprintf("runner-%d-%d", p, g)
	rec := func(s statebackend.Status, ts time.Time, by statebackend.InvocationID) statebackend.InvocationHistory {
		return statebackend.InvocationHistory{
			Timestamp:         ts,
			StatusRecord:      statebackend.StatusRecord{Status: s, RunnerID: runner, Timestamp: ts},
			RunnerContextID:   "ctx-" + runner,
			RegisteredByInvID: by,
		}
	}
	t1 := t0.Add(time.Millisecond + 3*time.Microsecond)
	return []statebackend.InvocationHistory{
		rec(statebackend.StatusRegistered, t0, ""),
		rec(statebackend.StatusPending, t1, root),
		rec(statebackend.StatusRunning, t1, root),
		rec(statebackend.StatusSuccess, t0.Add(2*time.Millisecond+5*time.Microsecond), root),
	}
}

// end is the latest history timestamp of a run.
func (c mpConfig) end() time.Time {
	return mpBase.Add(time.Duration(c.Ops*c.Procs*c.Goroutines) * mpSlot)
}

// historyOf returns the history id must end up with.
func (c mpConfig) historyOf(id statebackend.InvocationID) ([]statebackend.InvocationHistory, error) {
	var p, g, k, j int
	if _, err := fmt.Sscanf(string(id), "p%d-g%d-k%d-j%d", &p, &g, &k, &j); err != nil {
		return nil, fmt.Errorf("unexpected invocation id %q", id)
	}
	ids := c.batchIDs(p, g, k)
	if j >= len(ids) || ids[j] != id {
		return nil, fmt.Errorf("unexpected invocation id %q", id)
	}
	recs := c.records(p, g, k, ids[0])
	for i := range recs {
		recs[i].InvocationID = id
	}
	return recs, nil
}

// TestChildSQLiteWriter is a writer process of TestMultiProcessSQLite.
func TestChildSQLiteWriter(t *testing.T) {
	childRole(t, "sqlite-writer")
	cfg := mpConfigFromEnv(t)
	p, _ := strconv.Atoi(os.Getenv("RELIABILITY_PROC_INDEX"))
	awaitGo(t)
	b, err := statebackend.Open(sqlite.Open(os.Getenv("RELIABILITY_DB")), childLogger())
	if err != nil {
		say("error open: %v", err)
		t.Fatalf("open: %v", err)
	}
	defer b.Close()

	var wg sync.WaitGroup
	var mu sync.Mutex
	ops := 0
	for g := range cfg.Goroutines {
		wg.Go(func() {
			for k := range cfg.Ops {
				if err := writerOp(t.Context(), b, cfg, p, g, k); err != nil {
					say("error p%d g%d op %d: %v", p, g, k, err)
					t.Errorf("goroutine %d, operation %d: %v", g, k, err)
					return
				}
				mu.Lock()
				ops++
				mu.Unlock()
			}
			// The last batch is still at version 1; bring it to 2 like the others.
			if err := b.UpsertInvocations(t.Context(), cfg.batch(p, g, cfg.Ops-1, 2)); err != nil {
				say("error p%d g%d final upsert: %v", p, g, err)
				t.Errorf("goroutine %d, final upsert: %v", g, err)
			}
		})
	}
	wg.Wait()
	say("done ops=%d", ops)
}

// writerOp is operation k of goroutine g of process p: upsert batch k at
// version 1 (after a version 0 of its first invocation in the same call)
// and batch k-1 at version 2, add four history records, set the results,
// then read all of it back.
func writerOp(ctx context.Context, b statebackend.Backend, cfg mpConfig, p, g, k int) error {
	cur := cfg.batch(p, g, k, 1)
	invs := append(cfg.batch(p, g, k, 0)[:1], cur...)
	want := slices.Clone(cur)
	if k > 0 {
		prev := cfg.batch(p, g, k-1, 2)
		invs = append(invs, prev...)
		want = append(want, prev...)
	}
	if err := b.UpsertInvocations(ctx, invs); err != nil {
		return fmt.Errorf("UpsertInvocations: %w", err)
	}
	ids := cfg.batchIDs(p, g, k)
	recs := cfg.records(p, g, k, ids[0])
	for _, h := range recs {
		if err := b.AddHistory(ctx, ids, h); err != nil {
			return fmt.Errorf("AddHistory(%s): %w", h.StatusRecord.Status, err)
		}
	}
	for _, id := range ids {
		if err := b.SetResult(ctx, id, result(cfg.Seed, id)); err != nil {
			return fmt.Errorf("SetResult(%s): %w", id, err)
		}
	}

	wantIDs := make([]statebackend.InvocationID, len(want))
	for i, inv := range want {
		wantIDs[i] = inv.ID
	}
	got, err := b.Invocations(ctx, wantIDs)
	if err != nil {
		return fmt.Errorf("Invocations: %w", err)
	}
	for _, inv := range want {
		if g, ok := got[inv.ID]; !ok || !reflect.DeepEqual(g, normalized(inv)) {
			return fmt.Errorf("read back invocation %s: got %+v, want %+v", inv.ID, g, normalized(inv))
		}
	}
	last := ids[len(ids)-1]
	hist, err := b.History(ctx, last)
	if err != nil {
		return fmt.Errorf("History(%s): %w", last, err)
	}
	if wantHist, _ := cfg.historyOf(last); !historyEqual(hist, wantHist) {
		return fmt.Errorf("read back history of %s:\n got %v\nwant %v", last, hist, wantHist)
	}
	res, err := b.Result(ctx, last)
	if err != nil {
		return fmt.Errorf("Result(%s): %w", last, err)
	}
	if !bytes.Equal(res, result(cfg.Seed, last)) {
		return fmt.Errorf("read back result of %s: %d bytes differ from the %d written", last, len(res), len(result(cfg.Seed, last)))
	}
	return nil
}

// TestChildSQLiteReader is the reader process of TestMultiProcessSQLite: it
// scans time ranges until its stdin closes, checking every scan.
func TestChildSQLiteReader(t *testing.T) {
	childRole(t, "sqlite-reader")
	cfg := mpConfigFromEnv(t)
	in := awaitGo(t)
	stop := make(chan struct{})
	go func() {
		for in.Scan() {
		}
		close(stop)
	}()
	b, err := statebackend.Open(sqlite.Open(os.Getenv("RELIABILITY_DB")), childLogger())
	if err != nil {
		say("error open: %v", err)
		t.Fatalf("open: %v", err)
	}
	defer b.Close()

	r := rng(cfg.Seed, "reader")
	var seenRecs map[string]bool
	var seenIDs map[statebackend.InvocationID]bool
	scans := 0
	for {
		// At least one scan, even when the writers were done before this
		// process got to run.
		select {
		case <-stop:
			if scans > 0 {
				say("done scans=%d records=%d ids=%d", scans, len(seenRecs), len(seenIDs))
				return
			}
		default:
		}
		recs, err := scanHistory(t.Context(), b, cfg, mpBase, cfg.end(), 1+r.IntN(200), seenRecs)
		if err != nil {
			say("error history scan %d: %v", scans, err)
			t.Fatalf("history scan %d: %v", scans, err)
		}
		ids, err := scanIDs(t.Context(), b, mpBase, cfg.end(), 1+r.IntN(200), seenIDs)
		if err != nil {
			say("error id scan %d: %v", scans, err)
			t.Fatalf("id scan %d: %v", scans, err)
		}
		lo := mpBase.Add(time.Duration(r.Int64N(int64(cfg.end().Sub(mpBase)))))
		hi := lo.Add(time.Duration(r.Int64N(int64(20 * mpSlot))))
		if _, err := scanHistory(t.Context(), b, cfg, lo, hi, 1+r.IntN(20), nil); err != nil {
			say("error range scan %d: %v", scans, err)
			t.Fatalf("range scan %d: %v", scans, err)
		}
		seenRecs, seenIDs = recs, ids
		scans++
	}
}

// verifyMultiProcess checks the file holds exactly what the writers wrote.
func verifyMultiProcess(t *testing.T, cfg mpConfig, path string) {
	t.Helper()
	ctx := t.Context()
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()

	var want []statebackend.Invocation
	for p := range cfg.Procs {
		for g := range cfg.Goroutines {
			for k := range cfg.Ops {
				want = append(want, cfg.batch(p, g, k, 2)...)
			}
		}
	}
	wantIDs := make([]statebackend.InvocationID, len(want))
	for i, inv := range want {
		wantIDs[i] = inv.ID
	}

	stored, err := b.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
	if err != nil {
		t.Fatalf("InvocationIDsByWorkflow: %v", err)
	}
	sorted := slices.Clone(wantIDs)
	slices.Sort(sorted)
	if !slices.Equal(stored, sorted) {
		t.Fatalf("the file holds %d invocations, want the %d written", len(stored), len(sorted))
	}
	got, err := b.Invocations(ctx, wantIDs)
	if err != nil {
		t.Fatalf("Invocations: %v", err)
	}
	bad := 0
	for _, inv := range want {
		if g := got[inv.ID]; !reflect.DeepEqual(g, normalized(inv)) && bad < 5 {
			bad++
			t.Errorf("invocation %s:\n got %+v\nwant %+v", inv.ID, g, normalized(inv))
		}
	}
	records := 0
	for _, id := range wantIDs {
		h, err := b.History(ctx, id)
		if err != nil {
			t.Fatalf("History(%s): %v", id, err)
		}
		wantHist, _ := cfg.historyOf(id)
		records += len(wantHist)
		if !historyEqual(h, wantHist) && bad < 10 {
			bad++
			t.Errorf("history of %s:\n got %v\nwant %v", id, h, wantHist)
		}
		res, err := b.Result(ctx, id)
		if err != nil {
			t.Fatalf("Result(%s): %v", id, err)
		}
		if !bytes.Equal(res, result(cfg.Seed, id)) && bad < 15 {
			bad++
			t.Errorf("result of %s: %d bytes differ from the %d written", id, len(res), len(result(cfg.Seed, id)))
		}
	}
	seen, err := scanHistory(ctx, b, cfg, mpBase, cfg.end(), 500, nil)
	if err != nil {
		t.Fatalf("final history scan: %v", err)
	}
	if len(seen) != records {
		t.Errorf("final history scan saw %d records, want %d", len(seen), records)
	}
	if mode := journalMode(t, path); mode != "wal" {
		t.Errorf("the file's journal mode is %q, want wal", mode)
	}
	t.Logf("verified %d invocations, %d history records, %d results", len(want), records, len(want))
}

// childLogger logs the backend's warnings (retried errors) to stderr, where
// the parent counts them.
func childLogger() statebackend.Option {
	return statebackend.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// awaitGo tells the parent this child is ready and waits for its "go" line;
// it returns stdin for further reading.
func awaitGo(t *testing.T) *bufio.Scanner {
	t.Helper()
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		t.Fatal("parent went away before saying go")
	}
	return in
}
