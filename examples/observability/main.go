// Observability records a small workflow in a SQLite database with
// OpenTelemetry tracing and metrics on, and prints what was recorded: a
// span per call of the backend (stdouttrace), then the metrics
// (stdoutmetric): call durations by operation and outcome, commit group
// sizes, rows purged, and the connection pool.
//
//	go run ./examples/observability            # a temporary file, removed at exit
//	go run ./examples/observability -db state.db
//
// The program wires an OpenTelemetry SDK into the backend with
// statebackend.WithTracerProvider and statebackend.WithMeterProvider. An
// application that installs its SDK globally (otel.SetTracerProvider,
// otel.SetMeterProvider) needs neither option: the backend uses the global
// providers by default.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

func main() {
	dbPath := flag.String("db", "", "SQLite file to use (default: a temporary file, removed at exit)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dbPath); err != nil {
		log.Fatal(err)
	}
}

// run records the workflow and writes the spans and metrics to w.
func run(ctx context.Context, w io.Writer, dbPath string) (err error) {
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "statebackend-observability-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "state.db")
	}

	// The SDK: every span printed as it ends; metrics printed when the
	// meter provider shuts down (a real service would export both to a
	// collector, and read metrics periodically).
	res := resource.NewSchemaless(semconv.ServiceName("observability-example"))
	spans, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithResource(res))
	metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(w), stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	// The interval is long: the only collection is the one at shutdown.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(time.Hour))))

	backend, err := statebackend.Open(sqlite.Open(dbPath), statebackend.WithAppID("observability"),
		statebackend.WithTracerProvider(tp), statebackend.WithMeterProvider(mp))
	if err != nil {
		return err
	}

	// The application's own span: the backend's spans are its children.
	ctx, span := tp.Tracer("observability-example").Start(ctx, "process report")
	workflowErr := workflow(ctx, backend)
	span.End()

	// The pool gauges are read at collection: print the metrics before
	// Close unregisters them.
	fmt.Fprintln(w, "--- metrics ---")
	err = errors.Join(workflowErr, mp.Shutdown(ctx), backend.Close(), tp.Shutdown(ctx))
	return err
}

// workflow records one invocation with two children, their histories and
// results, then reads them back: a found result, a missing one
// (ErrNotFound, which is not an error status on its span), a page-by-page
// time-range read, and a purge.
func workflow(ctx context.Context, b statebackend.Backend) error {
	build := statebackend.TaskID{Module: "reports", FuncName: "build"}
	fetch := statebackend.TaskID{Module: "reports", FuncName: "fetch"}
	wf := statebackend.WorkflowIdentity{WorkflowID: "inv-build", WorkflowType: build}
	invs := []statebackend.Invocation{
		{ID: "inv-build", CallID: statebackend.CallID{Task: build, ArgsID: statebackend.NoArgs}, Workflow: wf},
		{ID: "inv-fetch-eu", CallID: statebackend.CallID{Task: fetch, ArgsID: "region-eu"}, Workflow: wf, ParentInvocationID: "inv-build"},
		{ID: "inv-fetch-us", CallID: statebackend.CallID{Task: fetch, ArgsID: "region-us"}, Workflow: wf, ParentInvocationID: "inv-build"},
	}
	if err := b.StoreWorkflowRun(ctx, wf); err != nil {
		return err
	}
	if err := b.UpsertInvocations(ctx, invs); err != nil {
		return err
	}
	start := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	for i, st := range []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusRunning, statebackend.StatusSuccess} {
		ts := start.Add(time.Duration(i) * time.Second)
		h := statebackend.InvocationHistory{
			Timestamp:    ts,
			StatusRecord: statebackend.StatusRecord{Status: st, RunnerID: "runner-1", Timestamp: ts},
		}
		if err := b.AddHistory(ctx, []statebackend.InvocationID{"inv-build", "inv-fetch-eu", "inv-fetch-us"}, h); err != nil {
			return err
		}
	}
	for _, inv := range invs {
		if err := b.SetResult(ctx, inv.ID, []byte(`"done"`)); err != nil {
			return err
		}
	}
	if _, err := b.Result(ctx, "inv-build"); err != nil {
		return err
	}
	if _, err := b.Result(ctx, "inv-unknown"); !errors.Is(err, statebackend.ErrNotFound) {
		return fmt.Errorf("result of an unknown invocation: %v, want ErrNotFound", err)
	}
	for _, err := range b.HistoryInTimeRange(ctx, start, start.Add(time.Minute), 5) {
		if err != nil {
			return err
		}
	}
	return b.Purge(ctx)
}
