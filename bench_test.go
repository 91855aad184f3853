package statebackend_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/internal/fixture"
	"github.com/taskstate/statebackend/sqlite"
)

// Micro benchmarks of the hot paths on a temporary SQLite file. They report
// allocations and assert nothing about time. Run with
//
//	go test -run '^$' -bench . -benchmem
//
// cmd/statebench measures whole workloads against hand-written SQL.

// benchInvocations is the number of invocations preloaded by the read
// benchmarks.
const benchInvocations = 2000

func openBench(b *testing.B, opts ...statebackend.Option) *statebackend.Store {
	b.Helper()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(b.TempDir(), "bench.db")), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.Close() })
	return be
}

func benchInvocation(i int) statebackend.Invocation {
	task := statebackend.TaskID{Module: "bench.tasks", FuncName: "task_" + strconv.Itoa(i%50)}
	id := statebackend.InvocationID("inv-" + strconv.Itoa(i))
	root := statebackend.InvocationID("inv-" + strconv.Itoa(i-i%10))
	inv := statebackend.Invocation{
		ID:        id,
		CallID:    statebackend.CallID{Task: task, ArgsID: "args-" + strconv.Itoa(i)},
		Arguments: map[string]string{"x": strconv.Itoa(i)},
		Workflow:  statebackend.WorkflowIdentity{WorkflowID: root, WorkflowType: task},
	}
	if root != id {
		inv.ParentInvocationID = root
	}
	return inv
}

// preload stores benchInvocations invocations with 4 history records each.
func preload(b *testing.B, be statebackend.Backend) {
	b.Helper()
	ctx := context.Background()
	invs := make([]statebackend.Invocation, benchInvocations)
	for i := range invs {
		invs[i] = benchInvocation(i)
	}
	if err := be.UpsertInvocations(ctx, invs); err != nil {
		b.Fatal(err)
	}
	for i := range benchInvocations {
		for k := range 4 {
			id, h := fixture.HistoryRecord(i, k)
			if err := be.AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAddHistory adds one history record to one invocation per
// operation, each committed before the call returns.
func BenchmarkAddHistory(b *testing.B) {
	be := openBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	j := 0
	for b.Loop() {
		id, h := fixture.HistoryRecord(j/4, j%4)
		if err := be.AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
			b.Fatal(err)
		}
		j++
	}
}

// BenchmarkInvocation reads one invocation per operation, with the
// default telemetry (OpenTelemetry's global providers: no-ops unless the
// program installs an SDK) and without telemetry.
func BenchmarkInvocation(b *testing.B) {
	b.Run("telemetry=global", func(b *testing.B) { benchInvocationRead(b) })
	b.Run("telemetry=off", func(b *testing.B) { benchInvocationRead(b, statebackend.WithoutTelemetry()) })
}

func benchInvocationRead(b *testing.B, opts ...statebackend.Option) {
	be := openBench(b, opts...)
	preload(b, be)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := statebackend.InvocationID("inv-" + strconv.Itoa(i*7919%benchInvocations))
		if _, err := be.Invocation(ctx, id); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUpsertInvocations upserts a batch of 100 new invocations per
// operation.
func BenchmarkUpsertInvocations(b *testing.B) {
	be := openBench(b)
	ctx := context.Background()
	batch := make([]statebackend.Invocation, 100)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i] = benchInvocation(n)
			n++
		}
		if err := be.UpsertInvocations(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistory reads the 4 history records of one invocation per
// operation.
func BenchmarkHistory(b *testing.B) {
	be := openBench(b)
	preload(b, be)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := statebackend.InvocationID("inv-" + strconv.Itoa(i*7919%benchInvocations))
		hs, err := be.History(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if len(hs) != 4 {
			b.Fatalf("history of %s: %d records", id, len(hs))
		}
		i++
	}
}

// BenchmarkHistoryInTimeRangePage reads one page of 100 history records per
// operation, from a random place in the range (the first page of an
// iteration starting there).
func BenchmarkHistoryInTimeRangePage(b *testing.B) {
	be := openBench(b)
	preload(b, be)
	ctx := context.Background()
	_, last := fixture.HistoryRecord(benchInvocations-1, 3)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, first := fixture.HistoryRecord(i*7919%(benchInvocations-100), 0)
		for batch, err := range be.HistoryInTimeRange(ctx, first.Timestamp, last.Timestamp, 100) {
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) != 100 {
				b.Fatalf("page of %d records", len(batch))
			}
			break
		}
		i++
	}
}
