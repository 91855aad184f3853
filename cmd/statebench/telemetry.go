package main

import (
	"context"
	"sync/atomic"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// The telemetry impls measure what the library's OpenTelemetry
// instrumentation costs: "gorm-off" is the library opened
// WithoutTelemetry, as if built without instrumentation; "gorm" is the
// library as users get it, with the global providers and no SDK installed
// (no-op); "gorm-sdk" records every span and metric with the OpenTelemetry
// SDK, spans through a batch processor into an in-memory exporter, metrics
// into a manual reader (collected once, at the end).

// sdkStore is the library recording into an in-memory SDK.
type sdkStore struct {
	state.Backend
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
	exporter *memoryExporter
}

// openSDK opens the library on e recording into a fresh in-memory SDK.
func openSDK(e *env) (store, error) {
	s := &sdkStore{exporter: &memoryExporter{InMemoryExporter: tracetest.NewInMemoryExporter()}, reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(s.exporter))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	b, err := openGorm(e, statebackend.WithTracerProvider(s.tp), statebackend.WithMeterProvider(s.mp))
	if err != nil {
		return nil, err
	}
	s.Backend = b
	return s, nil
}

// Close closes the backend, flushes the spans and logs what was recorded,
// so that a run shows the SDK really saw every call.
func (s *sdkStore) Close() error {
	err := s.Backend.Close()
	ctx := context.Background()
	_ = s.tp.Shutdown(ctx)
	var rm metricdata.ResourceMetrics
	calls := uint64(0)
	if s.reader.Collect(ctx, &rm) == nil {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "statebackend.call.duration" {
					for _, p := range h.DataPoints {
						calls += p.Count
					}
				}
			}
		}
	}
	_ = s.mp.Shutdown(ctx)
	logf("gorm-sdk: %d spans exported, %d call durations recorded", s.exporter.total.Load(), calls)
	return err
}

// memoryExporter is tracetest's in-memory exporter, emptied every
// memoryExporterLimit spans. The impls of a run share one process: spans
// held by gorm-sdk's exporter would make the garbage collector of the whole
// process slower, and so the other impls' measures too.
type memoryExporter struct {
	*tracetest.InMemoryExporter
	total, held atomic.Int64
}

const memoryExporterLimit = 10_000

func (m *memoryExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := m.InMemoryExporter.ExportSpans(ctx, spans); err != nil {
		return err
	}
	m.total.Add(int64(len(spans)))
	if m.held.Add(int64(len(spans))) > memoryExporterLimit {
		m.held.Store(0)
		m.Reset()
	}
	return nil
}
