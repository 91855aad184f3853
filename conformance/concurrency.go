package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// concurrencyTests returns the tests of group "concurrency": concurrent
// writers and readers on one backend and on two backends of one app.
func concurrencyTests() []Test {
	tests := []Test{
		{Name: "writers_and_readers_on_one_backend", Run: func(t *testing.T, h Harness) {
			hammer(t, []state.Backend{open(t, h)})
		}},
		{Name: "writers_on_two_backends_of_one_app", Run: func(t *testing.T, h Harness) {
			id := NewAppID()
			hammer(t, []state.Backend{h.Open(t, id), h.Open(t, id)})
		}},
	}
	for i := range tests {
		tests[i].Group = "concurrency"
	}
	return tests
}

const (
	hammerWriters = 8
	hammerWrites  = 50
)

// Ids shared by every writer.
const (
	hammerSharedInv    state.InvocationID = "shared-inv"
	hammerSharedA      state.InvocationID = "shared-a"
	hammerSharedB      state.InvocationID = "shared-b"
	hammerHotID        state.InvocationID = "hot"
	hammerSharedResult state.InvocationID = "shared-result"
)

// hammerID is the invocation id writer g uses for its i-th write.
func hammerID(g, i int) state.InvocationID { return state.InvocationID(fmt.Sprintf("w%d-%03d", g, i)) }

// hammerAt is the distinct timestamp of writer g's i-th write.
func hammerAt(g, i int) time.Time {
	return baseTime.Add(time.Duration(g*hammerWrites+i) * time.Millisecond)
}

// hammerShared is what writer g upserts under hammerSharedInv.
func hammerShared(g int) state.Invocation {
	return topLevel(hammerSharedInv, "shared", map[string]string{"writer": strconv.Itoa(g)})
}

// hammerHotRecord is the record every writer adds to hammerHotID: one (invocation,
// timestamp, status) written by all, so exactly one must remain.
func hammerHotRecord(g int) state.InvocationHistory {
	h := record(state.StatusRunning, baseTime.Add(-time.Hour))
	h.StatusRecord.RunnerID = "writer-" + strconv.Itoa(g)
	return h
}

// hammer runs hammerWriters goroutines of mixed writes, writer g on
// backends[g%len(backends)], and two readers iterating time ranges on
// backends[0] meanwhile; then it checks every write through every backend.
func hammer(t *testing.T, backends []state.Backend) {
	c := ctx(t)
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, err)
		}
	}
	var wg, readers sync.WaitGroup
	done := make(chan struct{})
	for r := range 2 {
		readers.Go(func() {
			for pass := 0; ; pass++ {
				if err := hammerRead(c, backends[0], r); err != nil {
					fail(fmt.Errorf("reader %d, pass %d: %w", r, pass, err))
					return
				}
				select {
				case <-done:
					if pass > 0 {
						return
					}
				default:
				}
			}
		})
	}
	for g := range hammerWriters {
		b := backends[g%len(backends)]
		wg.Go(func() {
			for i := range hammerWrites {
				if err := hammerWrite(c, b, g, i); err != nil {
					fail(fmt.Errorf("writer %d, write %d: %w", g, i, err))
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent calls failed:\n%v", errors.Join(errs...))
	}
	for _, b := range backends {
		hammerCheck(t, b)
	}
}

// hammerWrite performs writer g's i-th write, one of five kinds.
func hammerWrite(c context.Context, b state.Backend, g, i int) error {
	id := hammerID(g, i)
	switch i % 5 {
	case 0:
		return b.UpsertInvocations(c, []state.Invocation{topLevel(id, "own", map[string]string{"g": strconv.Itoa(g)}), hammerShared(g)})
	case 1:
		return b.AddHistory(c, []state.InvocationID{hammerSharedA, id, hammerSharedB}, record(state.StatusRunning, hammerAt(g, i)))
	case 2:
		return b.SetResult(c, id, []byte(id))
	case 3:
		return b.AddHistory(c, []state.InvocationID{hammerHotID}, hammerHotRecord(g))
	default:
		return b.SetResult(c, hammerSharedResult, []byte(strconv.Itoa(g)))
	}
}

// hammerRead iterates both time ranges once and checks their order.
func hammerRead(c context.Context, b state.Backend, r int) error {
	start, end := baseTime.Add(-2*time.Hour), baseTime.Add(time.Hour)
	seen := map[string]bool{}
	var last time.Time
	for batch, err := range b.HistoryInTimeRange(c, start, end, 7+r) {
		if err != nil {
			return err
		}
		for _, h := range batch {
			if h.Timestamp.Before(last) {
				return fmt.Errorf("HistoryInTimeRange went back from %s to %s", last, h.Timestamp)
			}
			last = h.Timestamp
			key := fmt.Sprint(h.InvocationID, h.Timestamp.UnixMicro(), h.StatusRecord.Status)
			if seen[key] {
				return fmt.Errorf("HistoryInTimeRange yielded the record %s twice", key)
			}
			seen[key] = true
		}
	}
	var prev state.InvocationID
	for batch, err := range b.InvocationIDsInTimeRange(c, start, end, 5+r) {
		if err != nil {
			return err
		}
		for _, id := range batch {
			if prev != "" && id <= prev {
				return fmt.Errorf("InvocationIDsInTimeRange yielded %q after %q", id, prev)
			}
			prev = id
		}
	}
	return nil
}

// hammerCheck fails the test unless b holds exactly what hammer wrote.
func hammerCheck(t *testing.T, b state.Backend) {
	t.Helper()
	c := ctx(t)
	var wantIDsAll []state.InvocationID
	var shared []state.InvocationHistory
	for g := range hammerWriters {
		for i := range hammerWrites {
			id := hammerID(g, i)
			switch i % 5 {
			case 0:
				wantInvocation(t, "Invocation("+string(id)+")", mustInvocation(t, b, id),
					topLevel(id, "own", map[string]string{"g": strconv.Itoa(g)}))
				wantIDsAll = append(wantIDsAll, id)
			case 1:
				rec := record(state.StatusRunning, hammerAt(g, i))
				wantHistory(t, "History("+string(id)+")", mustHistory(t, b, id), []state.InvocationHistory{stored(id, rec)})
				shared = append(shared, rec)
			case 2:
				got, err := b.Result(c, id)
				noErr(t, "Result", err)
				wantBytes(t, "Result("+string(id)+")", got, []byte(id))
			}
		}
	}
	wantIDsAll = append(wantIDsAll, hammerSharedInv)
	slices.Sort(wantIDsAll)
	wantIDs(t, "InvocationIDsByWorkflow(zero filter)", allInvocationIDs(t, b), wantIDsAll)

	inv := mustInvocation(t, b, hammerSharedInv)
	g, err := strconv.Atoi(inv.Arguments["writer"])
	if err != nil || g < 0 || g >= hammerWriters {
		t.Fatalf("Invocation(%q) holds no writer's version: %+v", hammerSharedInv, inv)
	}
	wantInvocation(t, "Invocation(shared-inv)", inv, hammerShared(g))

	slices.SortFunc(shared, func(a, b state.InvocationHistory) int { return a.Timestamp.Compare(b.Timestamp) })
	for _, id := range []state.InvocationID{hammerSharedA, hammerSharedB} {
		want := make([]state.InvocationHistory, len(shared))
		for i, h := range shared {
			want[i] = stored(id, h)
		}
		wantHistory(t, "History("+string(id)+")", mustHistory(t, b, id), want)
	}

	hot := mustHistory(t, b, hammerHotID)
	if len(hot) != 1 {
		t.Fatalf("History(%q): got %d records, want 1 (every writer added the same invocation, timestamp and status):\n%s",
			hammerHotID, len(hot), describeRecords(hot))
	}
	num, ok := strings.CutPrefix(hot[0].StatusRecord.RunnerID, "writer-")
	g, err = strconv.Atoi(num)
	if !ok || err != nil || g < 0 || g >= hammerWriters {
		t.Fatalf("History(%q) holds no writer's record: %+v", hammerHotID, hot[0])
	}
	wantHistory(t, "History(hot)", hot, []state.InvocationHistory{stored(hammerHotID, hammerHotRecord(g))})

	got, err := b.Result(c, hammerSharedResult)
	noErr(t, "Result(shared-result)", err)
	if n, err := strconv.Atoi(string(got)); err != nil || n < 0 || n >= hammerWriters {
		t.Fatalf("Result(%q) = %q, want one writer's number", hammerSharedResult, got)
	}
	total := len(allHistory(t, b))
	if want := 3*len(shared) + 1; total != want {
		t.Fatalf("HistoryInTimeRange(all time): got %d records, want %d", total, want)
	}
}
