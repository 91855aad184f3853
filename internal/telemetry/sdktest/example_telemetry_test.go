package sdktest_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// Record the backend's spans with an OpenTelemetry SDK (here one that keeps
// them in memory). A missing result is an ordinary answer: its span says
// not_found and keeps an unset status; a refused argument is an error.
func ExampleWithTracerProvider() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	backend, err := statebackend.Open(sqlite.Open(":memory:"), statebackend.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()

	ctx := context.Background()
	_ = backend.SetResult(ctx, "inv-1", []byte(`42`))
	_, _ = backend.Result(ctx, "inv-1")
	_, _ = backend.Result(ctx, "inv-2")
	_, _ = backend.Result(ctx, "")

	for _, s := range spans.Ended() {
		attrs := attribute.NewSet(s.Attributes()...)
		outcome, _ := attrs.Value("statebackend.outcome")
		fmt.Println(s.Name(), outcome.AsString(), s.Status().Code)
	}
	// Output:
	// statebackend.SetResult ok Unset
	// statebackend.Result ok Unset
	// statebackend.Result not_found Unset
	// statebackend.Result invalid_argument Error
}
