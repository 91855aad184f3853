package statebackend_test

import (
	"context"
	"path/filepath"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskstate/statebackend"
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
				id, h := benchRecord(j/4, j%4)
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
