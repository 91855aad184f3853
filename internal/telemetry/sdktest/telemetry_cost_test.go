package sdktest_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
	"github.com/taskstate/statebackend/internal/fixture"
)

// maxNoopAllocs bounds the allocations the instrumentation adds to a call
// with the default (global) providers before an SDK is installed, or with
// no-op providers: none. The backend starts no span while the tracer is
// known to record nothing (a span of the global tracer would cost three:
// its non-recording span, boxed twice, and the context that carries it),
// and builds nothing for a span that does not record.
const maxNoopAllocs = 0

// allocsPerCall returns the mean number of allocations of the whole
// process per call of f over runs calls, after one call to warm up.
// Unlike testing.AllocsPerRun it keeps the fraction: the pools a call
// takes from (sessions, argument slices) are emptied by a garbage
// collection, and under the race detector sync.Pool drops items at
// random, so a call allocates a little more on average than its steady
// path, in both configurations compared, and a truncated mean can land
// either side of a whole number.
func allocsPerCall(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}

// TestTelemetryAllocationsWhenOff measures the allocations per call with
// the default providers, which record nothing until an application
// installs an SDK, against the same calls WithoutTelemetry.
func TestTelemetryAllocationsWhenOff(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations; skipped with -short")
	}
	// Not parallel: AllocsPerRun counts the allocations of the whole
	// process.
	ctx := context.Background()
	open := func(opts ...statebackend.Option) statebackend.Backend {
		b := sqlitetest.Open(t, sqlitetest.Path(t), "allocs", opts...)
		if err := b.SetResult(ctx, "inv", []byte("result")); err != nil {
			t.Fatal(err)
		}
		if err := b.AddHistory(ctx, []statebackend.InvocationID{"inv"}, historyRecord()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	calls := []struct {
		name string
		run  func(b statebackend.Backend) error
	}{
		{"Result", func(b statebackend.Backend) error { _, err := b.Result(ctx, "inv"); return err }},
		{"History", func(b statebackend.Backend) error { _, err := b.History(ctx, "inv"); return err }},
		{"SetResult", func(b statebackend.Backend) error { return b.SetResult(ctx, "inv", []byte("result")) }},
	}
	off, def := open(statebackend.WithoutTelemetry()), open()
	noops := open(statebackend.WithTracerProvider(tracenoop.NewTracerProvider()),
		statebackend.WithMeterProvider(metricnoop.NewMeterProvider()))
	for _, c := range calls {
		measure := func(b statebackend.Backend) float64 {
			var err error
			n := allocsPerCall(400, func() {
				if e := c.run(b); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			return n
		}
		// Twice each, interleaved, keeping the lower: the pool's
		// connections and statements settle during the first.
		nOff, nDef := measure(off), measure(def)
		nOff, nDef = min(nOff, measure(off)), min(nDef, measure(def))
		t.Logf("%s: %.2f allocations per call without telemetry, %.2f with the default providers", c.name, nOff, nDef)
		if nDef > nOff+maxNoopAllocs+allocNoise {
			t.Errorf("%s: %.2f allocations per call with the default providers, more than %.2f (without telemetry) + %d",
				c.name, nDef, nOff, maxNoopAllocs)
		}
		if nNoop := min(measure(noops), measure(noops)); nNoop > nOff+maxNoopAllocs+allocNoise {
			t.Errorf("%s: %.2f allocations per call with no-op providers, more than %.2f (without telemetry) + %d",
				c.name, nNoop, nOff, maxNoopAllocs)
		}
	}
}

func historyRecord() statebackend.InvocationHistory {
	_, h := fixture.HistoryRecord(0, 0)
	return h
}

// globalProvidersEnv makes the test binary run TestTelemetryDefaultProviders
// itself; otherwise the test runs it in a process of its own, since it
// installs global providers, which would stay for the other tests.
const globalProvidersEnv = "STATEBACKEND_TEST_GLOBAL_PROVIDERS"

// TestTelemetryDefaultProviders checks that a backend opened without
// providers records nothing while no SDK is installed, and records through
// the global providers once the application installs an SDK, as the
// documentation promises.
func TestTelemetryDefaultProviders(t *testing.T) {
	if os.Getenv(globalProvidersEnv) != "1" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestTelemetryDefaultProviders$", "-test.count=1")
		cmd.Env = append(os.Environ(), globalProvidersEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	ctx := context.Background()
	b := sqlitetest.Open(t, sqlitetest.Path(t), "global")
	if err := b.SetResult(ctx, "inv", []byte("before")); err != nil {
		t.Fatal(err)
	}
	// The global provider given explicitly, before any SDK: it too
	// delegates once one is installed.
	given := sqlitetest.Open(t, sqlitetest.Path(t), "given", statebackend.WithTracerProvider(otel.GetTracerProvider()))
	if err := given.SetResult(ctx, "inv", []byte("before")); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	if n := len(rec.spans.Ended()); n != 0 {
		t.Fatalf("%d spans before any SDK", n)
	}
	otel.SetTracerProvider(rec.tp)
	otel.SetMeterProvider(rec.mp)
	if _, err := b.Result(ctx, "inv"); err != nil {
		t.Fatal(err)
	}
	spans := rec.spans.Ended()
	if len(spans) != 1 || spans[0].Name() != "statebackend.Result" {
		t.Fatalf("after installing an SDK: %d spans, want statebackend.Result alone", len(spans))
	}
	if _, err := given.Result(ctx, "inv"); err != nil {
		t.Fatal(err)
	}
	if spans := rec.spans.Ended(); len(spans) != 2 || spans[1].Name() != "statebackend.Result" {
		t.Fatalf("the global provider given explicitly, after installing an SDK: %d spans in all, want 2", len(spans))
	}
	ms := rec.collect(t)
	durations := points(t, ms["statebackend.call.duration"])
	if len(durations) != 2 {
		t.Errorf("call durations recorded: %v, want the one call of each backend since the SDK was installed", durations)
	}
	// The pool gauges registered at Open report through the SDK installed
	// later.
	if _, ok := ms["db.client.connection.count"]; !ok {
		t.Error("no pool gauges through the global meter provider")
	}
}
