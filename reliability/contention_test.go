package reliability_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/mysql"
)

// TestPostgresContention proves that concurrent writers on Postgres never
// see a deadlock or serialization failure and that the last write of each
// id wins; see runContention. Skipped without Postgres (pgtest.DSN).
func TestPostgresContention(t *testing.T) {
	t.Parallel()
	runContention(t, 2, func(t *testing.T, _ int, appID string, opts ...statebackend.Option) statebackend.Backend {
		return pgtest.Open(t, appID, opts...)
	})
}

// TestMySQLContention is TestPostgresContention on MySQL or MariaDB, whose
// gap locks make deadlocks likelier. Skipped without one (mysqltest.DSN).
func TestMySQLContention(t *testing.T) {
	t.Parallel()
	runContention(t, 2, func(t *testing.T, _ int, appID string, opts ...statebackend.Option) statebackend.Backend {
		return mysqltest.Open(t, appID, opts...)
	})
}

// TestGaleraContention is TestPostgresContention through the three nodes
// of a MariaDB Galera cluster at once, one backend per node: writes of the
// same rows through different nodes conflict at certification, which
// Galera reports as deadlocks (1213) at COMMIT or at the next statement,
// and the backend retries. The checks read with wsrep_sync_wait=1, so that
// a node has applied every write made through the others before it
// answers. Skipped without the cluster's packages (galeratest).
func TestGaleraContention(t *testing.T) {
	t.Parallel()
	dsns := galeratest.Shared(t).NodeDSNs()
	runContention(t, len(dsns), func(t *testing.T, node int, appID string, opts ...statebackend.Option) statebackend.Backend {
		cfg, err := gomysql.ParseDSN(dsns[node])
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["wsrep_sync_wait"] = "1"
		opts = append([]statebackend.Option{statebackend.WithAppID(appID)}, opts...)
		b, err := statebackend.Open(mysql.Open(cfg.FormatDSN()), opts...)
		if err != nil {
			t.Fatalf("node %d: %v", node, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// attemptRE finds the attempt number in the backend's "retrying" log lines.
var attemptRE = regexp.MustCompile(`retrying.* attempt=(\d+)`)

// contentionPool is how many invocation ids the workers fight over.
const contentionPool = 64

// runContention runs RELIABILITY_CONTENTION_WORKERS (16) goroutines, spread
// over pools backends (connection pools, as that many processes would have;
// open opens the i-th) of one app, for RELIABILITY_CONTENTION_ROUNDS (6) rounds separated by a
// barrier. In each round every worker, in a random order, makes three
// UpsertInvocations calls of 20 to 120 invocations drawn with repetition
// from 64 shared ids (shuffled, so one call holds an id several times and
// calls overlap heavily) and three pairs of AddHistory calls on random
// subsets of the same ids: one record every worker writes identically (the
// same invocation, timestamp and status, so the writes collide on the
// unique key) and one of its own.
//
// It proves that:
//   - no call returns an error: deadlocks and serialization failures, if
//     the database raises them, are retried inside the backend;
//   - after each round every id written in it holds one of the values
//     written for it in that round, each worker's candidate being its last
//     write of the id (within one call the last occurrence wins), and ids
//     not written keep their earlier value: no write of an earlier round
//     survives a later one;
//   - after a final round in which every worker writes the same value for
//     an id, every id holds exactly that value;
//   - every history is exactly the records written: the shared record once
//     per round, each worker's own record, in timestamp order.
func runContention(t *testing.T, pools int, open func(t *testing.T, pool int, appID string, opts ...statebackend.Option) statebackend.Backend) {
	sd := seed(t)
	workers := envInt(t, "RELIABILITY_CONTENTION_WORKERS", 16)
	rounds := envInt(t, "RELIABILITY_CONTENTION_ROUNDS", 6)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := conformance.NewAppID()
	backends := make([]statebackend.Backend, pools)
	for i := range backends {
		backends[i] = open(t, i, app, statebackend.WithLogger(logger))
	}
	ctx := t.Context()
	begin := time.Now()

	ids := make([]statebackend.InvocationID, contentionPool)
	for i := range ids {
		ids[i] = statebackend.InvocationID(fmt.Sprintf("inv-%03d", i))
	}
	stored := map[statebackend.InvocationID]statebackend.Invocation{}
	history := map[statebackend.InvocationID][]statebackend.InvocationHistory{}
	base := time.Date(2026, 7, 1, 0, 0, 0, 123000, time.UTC)

	for round := range rounds + 1 {
		final := round == rounds
		var mu sync.Mutex
		// candidates[id][w] is worker w's last write of id this round.
		candidates := map[statebackend.InvocationID]map[int]statebackend.Invocation{}
		recorded := map[statebackend.InvocationID][]statebackend.InvocationHistory{}
		shared := contentionRecord(base, round, -1)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				b := backends[w%len(backends)]
				r := rng(sd, fmt.Sprintf("contention/%d/%d", round, w))
				last := map[statebackend.InvocationID]statebackend.Invocation{}
				own := contentionRecord(base, round, w)
				steps := []string{"upsert", "upsert", "upsert", "history", "history", "history"}
				r.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
				var sharedIDs, ownIDs []statebackend.InvocationID
				for call, step := range steps {
					switch step {
					case "upsert":
						batch := make([]statebackend.Invocation, 20+r.IntN(101))
						for i := range batch {
							id := ids[r.IntN(len(ids))]
							if final && i < len(ids)/workers+1 {
								id = ids[(w+i*workers)%len(ids)] // every id written at least once
							}
							v := (round*1000+w)*1000 + call*200 + i
							if final {
								v = -1 // every worker writes the same final value
							}
							batch[i] = invocation(sd, id, id, v)
						}
						r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
						if err := b.UpsertInvocations(ctx, batch); err != nil {
							t.Errorf("round %d worker %d: UpsertInvocations(%d): %v", round, w, len(batch), err)
							return
						}
						for _, inv := range batch {
							last[inv.ID] = inv
						}
					case "history":
						s, o := randomSubset(r, ids), randomSubset(r, ids)
						if err := b.AddHistory(ctx, s, shared); err != nil {
							t.Errorf("round %d worker %d: AddHistory shared (%d ids): %v", round, w, len(s), err)
							return
						}
						if err := b.AddHistory(ctx, o, own); err != nil {
							t.Errorf("round %d worker %d: AddHistory own (%d ids): %v", round, w, len(o), err)
							return
						}
						sharedIDs, ownIDs = append(sharedIDs, s...), append(ownIDs, o...)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for id, inv := range last {
					if candidates[id] == nil {
						candidates[id] = map[int]statebackend.Invocation{}
					}
					candidates[id][w] = inv
				}
				for _, id := range sharedIDs {
					if !slices.ContainsFunc(recorded[id], func(h statebackend.InvocationHistory) bool { return h.Timestamp.Equal(shared.Timestamp) }) {
						recorded[id] = append(recorded[id], withID(shared, id))
					}
				}
				for _, id := range ownIDs {
					if !slices.ContainsFunc(recorded[id], func(h statebackend.InvocationHistory) bool { return h.Timestamp.Equal(own.Timestamp) }) {
						recorded[id] = append(recorded[id], withID(own, id))
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.Logf("the backends' log:\n%s", tail(logs.String(), 40))
			return
		}

		got, err := backends[round%len(backends)].Invocations(ctx, ids)
		if err != nil {
			t.Fatalf("round %d: Invocations: %v", round, err)
		}
		for _, id := range ids {
			inv, ok := got[id]
			cands, written := candidates[id]
			switch {
			case written:
				if !slices.ContainsFunc(mapValues(cands), func(c statebackend.Invocation) bool { return reflect.DeepEqual(inv, normalized(c)) }) {
					t.Errorf("round %d: %s holds %v, none of the %d last writes of this round", round, id, inv.CallID, len(cands))
				}
			case ok != (stored[id].ID != ""):
				t.Errorf("round %d: %s present=%v, want %v", round, id, ok, !ok)
			case ok && !reflect.DeepEqual(inv, stored[id]):
				t.Errorf("round %d: %s changed although nobody wrote it", round, id)
			}
			if final && !reflect.DeepEqual(inv, normalized(invocation(sd, id, id, -1))) {
				t.Errorf("final round: %s holds %v, want the value every worker wrote", id, inv.CallID)
			}
			stored[id] = inv
		}
		for _, id := range ids {
			history[id] = append(history[id], recorded[id]...)
			slices.SortFunc(history[id], func(a, b statebackend.InvocationHistory) int { return a.Timestamp.Compare(b.Timestamp) })
			h, err := backends[round%len(backends)].History(ctx, id)
			if err != nil {
				t.Fatalf("round %d: History(%s): %v", round, id, err)
			}
			if !historyEqual(h, history[id]) {
				t.Errorf("round %d: history of %s has %d records, want %d:\n got %v\nwant %v", round, id, len(h), len(history[id]), h, history[id])
			}
		}
		if t.Failed() {
			return
		}
	}
	retries := strings.Count(logs.String(), "retrying")
	most := 0 // the most attempts a call failed before succeeding
	for _, m := range attemptRE.FindAllStringSubmatch(logs.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		most = max(most, n)
	}
	t.Logf("%d workers x %d rounds on %d ids in %v; %d transient errors retried inside the backend, at most %d for one call",
		workers, rounds+1, contentionPool, time.Since(begin).Round(time.Millisecond), retries, most)
}

// contentionRecord returns worker w's history record of a round; w = -1 is
// the record every worker writes.
func contentionRecord(base time.Time, round, w int) statebackend.InvocationHistory {
	ts := base.Add(time.Duration(round)*time.Second + time.Duration(w+1)*time.Microsecond)
	status, runner := statebackend.StatusRunning, fmt.Sprintf("worker-%d", w)
	if w < 0 {
		status, runner = statebackend.StatusRegistered, "shared"
	}
	return statebackend.InvocationHistory{
		Timestamp:       ts,
		StatusRecord:    statebackend.StatusRecord{Status: status, RunnerID: runner, Timestamp: ts},
		RunnerContextID: "ctx-" + runner,
	}
}

// randomSubset returns 1 to 40 of ids in random order, with repetitions.
func randomSubset(r *rand.Rand, ids []statebackend.InvocationID) []statebackend.InvocationID {
	out := make([]statebackend.InvocationID, 1+r.IntN(40))
	for i := range out {
		out[i] = ids[r.IntN(len(ids))]
	}
	return out
}

func withID(h statebackend.InvocationHistory, id statebackend.InvocationID) statebackend.InvocationHistory {
	h.InvocationID = id
	return h
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// do not serialize writes to their io.Writer across loggers).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
