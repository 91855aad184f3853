package sdktest_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/internal/fixture"
	"github.com/taskstate/statebackend/sqlite"
)

// BenchmarkTelemetry measures what the instrumentation costs a point read
// and a one-record write on a temporary SQLite file, in three modes:
// "off" (WithoutTelemetry), "noop" (the default: global providers with no
// SDK installed) and "sdk" (an SDK recording every span through a batch
// processor into an in-memory exporter, and every metric into a manual
// reader). Run with
//
//	go test -run '^$' -bench Telemetry -benchmem
func BenchmarkTelemetry(b *testing.B) {
	modes := []struct {
		name string
		opts func(b *testing.B) []statebackend.Option
	}{
		{"off", func(*testing.B) []statebackend.Option {
			return []statebackend.Option{statebackend.WithoutTelemetry()}
		}},
		{"noop", func(*testing.B) []statebackend.Option { return nil }},
		{"sdk", sdkOptions},
	}
	for _, mode := range modes {
		b.Run("Result/"+mode.name, func(b *testing.B) {
			be := openTelemetryBench(b, mode.opts(b))
			ctx := context.Background()
			if err := be.SetResult(ctx, "inv", []byte("result")); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := be.Result(ctx, "inv"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("AddHistory/"+mode.name, func(b *testing.B) {
			be := openTelemetryBench(b, mode.opts(b))
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
		})
	}
}

func openTelemetryBench(b *testing.B, opts []statebackend.Option) statebackend.Backend {
	b.Helper()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(b.TempDir(), "bench.db")), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.Close() })
	return be
}

// sdkOptions returns providers of an SDK that records into memory, shut
// down when b ends.
func sdkOptions(b *testing.B) []statebackend.Option {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return []statebackend.Option{statebackend.WithTracerProvider(tp), statebackend.WithMeterProvider(mp)}
}

// BenchmarkTelemetryInterleaved measures the three modes of
// BenchmarkTelemetry call by call in turn, so that the load of a shared
// machine weighs on each alike. Each operation is one call in each mode; it
// reports each mode's median time per call and the medians over the
// operations of the ratios no-op/off and sdk/off (medians, so that a call
// preempted now and then does not count). Run with
//
//	go test -run '^$' -bench TelemetryInterleaved -benchtime 20000x
func BenchmarkTelemetryInterleaved(b *testing.B) {
	ctx := context.Background()
	calls := []struct {
		name string
		run  func(be statebackend.Backend, i int) error
	}{
		{"Result", func(be statebackend.Backend, _ int) error { _, err := be.Result(ctx, "inv"); return err }},
		{"History", func(be statebackend.Backend, _ int) error { _, err := be.History(ctx, "inv-0"); return err }},
		{"AddHistory", func(be statebackend.Backend, i int) error {
			id, h := fixture.HistoryRecord(i/4+1, i%4)
			return be.AddHistory(ctx, []statebackend.InvocationID{id}, h)
		}},
	}
	modes := []string{"off", "noop", "sdk"}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			backends := make([]statebackend.Backend, len(modes))
			for m, mode := range modes {
				var opts []statebackend.Option
				switch mode {
				case "off":
					opts = []statebackend.Option{statebackend.WithoutTelemetry()}
				case "sdk":
					opts = sdkOptions(b)
				}
				backends[m] = openTelemetryBench(b, opts)
				if err := backends[m].SetResult(ctx, "inv", []byte("result")); err != nil {
					b.Fatal(err)
				}
				for k := range 4 {
					id, h := fixture.HistoryRecord(0, k)
					if err := backends[m].AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
						b.Fatal(err)
					}
				}
			}
			var spent [3][]time.Duration
			i := 0
			for b.Loop() {
				// Rotate the order, so that no mode always follows another.
				for k := range backends {
					m := (i + k) % len(backends)
					t0 := time.Now()
					if err := c.run(backends[m], i); err != nil {
						b.Fatal(err)
					}
					spent[m] = append(spent[m], time.Since(t0))
				}
				i++
			}
			ratios := func(m int) []float64 {
				out := make([]float64, len(spent[m]))
				for j, d := range spent[m] {
					out[j] = float64(d) / float64(spent[0][j])
				}
				return out
			}
			for m, mode := range modes {
				b.ReportMetric(medianFloat(durationsAsFloats(spent[m])), mode+"-ns/call")
			}
			b.ReportMetric(medianFloat(ratios(1)), "noop/off")
			b.ReportMetric(medianFloat(ratios(2)), "sdk/off")
		})
	}
}

func durationsAsFloats(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
