package sdktest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
	"github.com/taskstate/statebackend/entities"
	sbmysql "github.com/taskstate/statebackend/mysql"
	sbpostgres "github.com/taskstate/statebackend/postgres"
)

// TestMain removes the database containers the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = pgtest.Terminate()
	_ = mysqltest.Terminate()
	os.Exit(code)
}

// recorder is an OpenTelemetry SDK that keeps every span and metric in
// memory, for the tests to read.
type recorder struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newRecorder(t testing.TB) *recorder {
	t.Helper()
	r := &recorder{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = r.mp.Shutdown(context.Background())
	})
	return r
}

// options makes a backend record into r.
func (r *recorder) options() []statebackend.Option {
	return []statebackend.Option{statebackend.WithTracerProvider(r.tp), statebackend.WithMeterProvider(r.mp)}
}

// collect returns the metrics recorded so far, by instrument name.
func (r *recorder) collect(t testing.TB) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/taskstate/statebackend" {
			t.Errorf("metric scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// points summarizes a metric: for each data point, its attributes (encoded
// as "k=v,...") and its count (histograms) or value (sums, gauges).
func points(t testing.TB, m metricdata.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	key := func(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }
	switch data := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range data.DataPoints {
			out[key(p.Attributes)] = float64(p.Count)
		}
	case metricdata.Histogram[int64]:
		for _, p := range data.DataPoints {
			out[key(p.Attributes)] = float64(p.Count)
		}
	case metricdata.Sum[int64]:
		for _, p := range data.DataPoints {
			out[key(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Sum[float64]:
		for _, p := range data.DataPoints {
			out[key(p.Attributes)] = p.Value
		}
	default:
		t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
	}
	return out
}

// encode returns the "k=v,..." form of attrs, as points keys them.
func encode(attrs ...attribute.KeyValue) string {
	s := attribute.NewSet(attrs...)
	return s.Encoded(attribute.DefaultEncoder())
}

// telemetryDB is a database the telemetry tests run on.
type telemetryDB struct {
	name string
	// open opens a backend for appID with opts, closed when t ends, and
	// returns the database's db.system.name and db.namespace.
	open func(t *testing.T, appID string, opts ...statebackend.Option) (b statebackend.Backend, system, namespace string)
	// maxIdentifier is the dialect's identifier limit (table names).
	maxIdentifier int
	// grouped says writes go through the group committer.
	grouped bool
}

var telemetryDBs = []telemetryDB{
	{
		name: "sqlite", grouped: true,
		open: func(t *testing.T, appID string, opts ...statebackend.Option) (statebackend.Backend, string, string) {
			path := sqlitetest.Path(t)
			return sqlitetest.Open(t, path, appID, opts...), "sqlite", path
		},
	},
	{
		name: "postgres", maxIdentifier: 63,
		open: func(t *testing.T, appID string, opts ...statebackend.Option) (statebackend.Backend, string, string) {
			dsn := pgtest.DSN(t)
			return pgtest.Open(t, appID, opts...), "postgresql", sbpostgres.Open(dsn).Dialect().Namespace
		},
	},
	{
		name: "mysql", maxIdentifier: 64,
		open: func(t *testing.T, appID string, opts ...statebackend.Option) (statebackend.Backend, string, string) {
			dsn := mysqltest.DSN(t)
			b := mysqltest.Open(t, appID, opts...)
			version := serverVersion(t, sbmysql.Open(dsn))
			system := "mysql"
			if strings.Contains(version, "MariaDB") {
				system = "mariadb"
			}
			return b, system, sbmysql.Open(dsn).Dialect().Namespace
		},
	},
}

// spanWant is a span the scripted calls must produce.
type spanWant struct {
	op    string
	model string // entity whose table the call uses, "" for none
	attrs []attribute.KeyValue
	// err is the error the call returned; the span's status is Error with
	// its message unless it is nil or a not-found.
	err error
}

// TestTelemetryScript runs a scripted sequence of calls and checks every
// span and metric it records, on each database available.
func TestTelemetryScript(t *testing.T) {
	t.Parallel()
	for _, db := range telemetryDBs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			testTelemetryScript(t, db)
		})
	}
}

func testTelemetryScript(t *testing.T, db telemetryDB) {
	rec := newRecorder(t)
	appID := "otel_" + db.name + "_" + strings.ToLower(randomSuffix())
	b, system, namespace := db.open(t, appID, rec.options()...)
	tables, err := entities.NewTables(appID, db.maxIdentifier)
	if err != nil {
		t.Fatal(err)
	}
	base := []attribute.KeyValue{attribute.String("db.system.name", system), attribute.String("statebackend.app_id", appID)}
	if namespace != "" {
		base = append(base, attribute.String("db.namespace", namespace))
	}
	if namespace == "" {
		t.Errorf("%s: no db.namespace", db.name)
	}
	// One statement's write, through the group committer where there is
	// one.
	written := func(rows int) []attribute.KeyValue {
		out := []attribute.KeyValue{attribute.Int("statebackend.attempts", 1), attribute.Int("statebackend.rows_affected", rows)}
		if db.grouped {
			out = append(out, attribute.Int("statebackend.group_commit.size", 1))
		}
		return out
	}
	read := []attribute.KeyValue{attribute.Int("statebackend.attempts", 1)}
	with := func(a []attribute.KeyValue, more ...attribute.KeyValue) []attribute.KeyValue {
		return append(slices.Clone(a), more...)
	}

	// The script runs under a span of the application's.
	ctx, parent := rec.tp.Tracer("test").Start(context.Background(), "script")
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	inv := func(id string) statebackend.Invocation {
		task := statebackend.TaskID{Module: "m", FuncName: "f"}
		return statebackend.Invocation{
			ID: statebackend.InvocationID(id), CallID: statebackend.CallID{Task: task, ArgsID: id},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: statebackend.InvocationID(id), WorkflowType: task},
		}
	}
	h := statebackend.InvocationHistory{Timestamp: t0, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRegistered, Timestamp: t0}}
	var want []spanWant
	call := func(op, model string, err error, attrs ...attribute.KeyValue) {
		t.Helper()
		want = append(want, spanWant{op: op, model: model, err: err, attrs: attrs})
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	must("StoreAppInfo", b.StoreAppInfo(ctx, statebackend.AppInfo{AppID: appID, Module: "app"}))
	call("StoreAppInfo", "AppInfo", nil, written(1)...)
	must("UpsertInvocations", b.UpsertInvocations(ctx, []statebackend.Invocation{inv("a"), inv("b")}))
	call("UpsertInvocations", "Invocation", nil, with(written(2), attribute.Int("statebackend.batch.size", 2))...)
	must("AddHistory", b.AddHistory(ctx, []statebackend.InvocationID{"a", "b"}, h))
	call("AddHistory", "History", nil, with(written(2), attribute.Int("statebackend.batch.size", 2))...)
	must("SetResult", b.SetResult(ctx, "a", []byte("42")))
	call("SetResult", "Result", nil, written(1)...)
	_, err = b.Result(ctx, "a")
	must("Result", err)
	call("Result", "Result", nil, read...)
	_, err = b.Result(ctx, "b")
	if !errors.Is(err, statebackend.ErrNotFound) {
		t.Fatalf("Result of b: %v, want ErrNotFound", err)
	}
	call("Result", "Result", err, with(read, attribute.String("statebackend.outcome", "not_found"))...)
	_, err = b.Invocation(ctx, "")
	if !errors.Is(err, statebackend.ErrInvalidArgument) {
		t.Fatalf("Invocation(\"\"): %v, want ErrInvalidArgument", err)
	}
	call("Invocation", "Invocation", err)
	hs, err := b.History(ctx, "a")
	must("History", err)
	if len(hs) != 1 {
		t.Fatalf("History: %d records", len(hs))
	}
	call("History", "History", nil, with(read, attribute.Int("db.response.returned_rows", 1))...)
	pages := 0
	for batch, err := range b.HistoryInTimeRange(ctx, t0, t0, 1) {
		must("HistoryInTimeRange", err)
		pages++
		call("HistoryInTimeRange", "History", nil, with(read, attribute.Int("statebackend.page", pages),
			attribute.Int("statebackend.batch.size", 1), attribute.Int("db.response.returned_rows", len(batch)))...)
	}
	if pages != 2 {
		t.Fatalf("HistoryInTimeRange: %d pages, want 2", pages)
	}
	// The iteration reads a third, empty page to find the end.
	call("HistoryInTimeRange", "History", nil, with(read, attribute.Int("statebackend.page", 3),
		attribute.Int("statebackend.batch.size", 1), attribute.Int("db.response.returned_rows", 0))...)
	for _, err = range b.HistoryInTimeRange(ctx, t0, t0.Add(-time.Second), 10) {
	}
	if !errors.Is(err, statebackend.ErrInvalidArgument) {
		t.Fatalf("HistoryInTimeRange over a reversed range: %v, want ErrInvalidArgument", err)
	}
	call("HistoryInTimeRange", "History", err, attribute.Int("statebackend.batch.size", 10))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.History(canceled, "a")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("History with a canceled context: %v", err)
	}
	call("History", "History", err)
	must("Purge", b.Purge(ctx))
	call("Purge", "", nil, written(11)...) // 6 rows, the current statuses of 2 invocations and 3 changes (2 deleted, the newest kept as a placeholder)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = b.Result(ctx, "a")
	if !errors.Is(err, statebackend.ErrClosed) {
		t.Fatalf("Result after Close: %v", err)
	}
	call("Result", "Result", err)
	parent.End()

	// Spans: one per call (one per page for the iterator), in order, each
	// a child of the application's span, with exactly these attributes.
	var got []sdktrace.ReadOnlySpan
	for _, s := range rec.spans.Ended() {
		if s.Name() != "script" {
			got = append(got, s)
		}
	}
	if len(got) != len(want) {
		for _, s := range got {
			t.Logf("span %s", s.Name())
		}
		t.Fatalf("%d spans, want %d", len(got), len(want))
	}
	for i, w := range want {
		s := got[i]
		name := "statebackend." + w.op
		if s.Name() != name {
			t.Errorf("span %d: %s, want %s", i, s.Name(), name)
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d (%s): not a child of the caller's span", i, name)
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d (%s): kind %v, want client", i, name, s.SpanKind())
		}
		attrs := with(base, attribute.String("db.operation.name", w.op))
		if w.model != "" {
			attrs = append(attrs, attribute.String("db.collection.name", tables.Name(w.model)))
		}
		attrs = append(attrs, w.attrs...)
		wantStatus := sdktrace.Status{Code: codes.Unset}
		outcome := "ok"
		switch {
		case errors.Is(w.err, statebackend.ErrNotFound):
			outcome = ""
		case w.err != nil:
			outcome = category(w.err)
			attrs = append(attrs, attribute.String("error.type", outcome))
			wantStatus = sdktrace.Status{Code: codes.Error, Description: w.err.Error()}
		}
		if outcome != "" {
			attrs = append(attrs, attribute.String("statebackend.outcome", outcome))
		}
		if g, w := encode(s.Attributes()...), encode(attrs...); g != w {
			t.Errorf("span %d (%s) attributes:\n got %s\nwant %s", i, name, g, w)
		}
		if s.Status() != wantStatus {
			t.Errorf("span %d (%s) status %+v, want %+v", i, name, s.Status(), wantStatus)
		}
	}

	// Metrics: the duration of every call by operation and outcome, the
	// commit groups, the rows Purge deleted, no retries and no pool
	// gauges after Close.
	ms := rec.collect(t)
	durations := map[string]float64{}
	for _, w := range want {
		attrs := with(base, attribute.String("db.operation.name", w.op), attribute.String("statebackend.outcome", category(w.err)))
		if w.model != "" {
			attrs = append(attrs, attribute.String("db.collection.name", tables.Name(w.model)))
		}
		durations[encode(attrs...)]++
	}
	checkPoints(t, ms, "statebackend.call.duration", durations)
	if m, ok := ms["statebackend.call.duration"]; ok && m.Unit != "s" {
		t.Errorf("call duration unit %q", m.Unit)
	}
	groups := map[string]float64{}
	if db.grouped {
		groups[encode(base...)] = 5 // StoreAppInfo, UpsertInvocations, AddHistory, SetResult, Purge
	}
	checkPoints(t, ms, "statebackend.group_commit.size", groups)
	pruned := map[string]float64{}
	for model, n := range map[string]float64{"AppInfo": 1, "Invocation": 2, "History": 2, "Result": 1, "InvocationStatus": 2, "Change": 3} {
		pruned[encode(with(base, attribute.String("db.operation.name", "Purge"), attribute.String("db.collection.name", tables.Name(model)))...)] = n
	}
	checkPoints(t, ms, "statebackend.rows.pruned", pruned)
	checkPoints(t, ms, "statebackend.retries", nil)
	for _, name := range []string{"db.client.connection.count", "db.client.connection.max"} {
		checkPoints(t, ms, name, nil)
	}
}

// checkPoints checks that metric name has exactly the data points want
// (none when want is empty).
func checkPoints(t *testing.T, ms map[string]metricdata.Metrics, name string, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	if m, ok := ms[name]; ok {
		got = points(t, m)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	keys := func(m map[string]float64) []string {
		var out []string
		for k, v := range m {
			out = append(out, fmt.Sprintf("%s => %v", k, v))
		}
		sort.Strings(out)
		return out
	}
	g, w := keys(got), keys(want)
	if !slices.Equal(g, w) {
		t.Errorf("metric %s:\n got %s\nwant %s", name, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}

// category is the outcome the backend reports for err.
func category(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, statebackend.ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, statebackend.ErrNotFound):
		return "not_found"
	case errors.Is(err, statebackend.ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "context"
	}
	return "database"
}

// randomSuffix returns 8 random hex digits, for app ids of their own on
// shared databases.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serverVersion returns the version the database d runs, as SELECT
// VERSION() says it.
func serverVersion(t *testing.T, d gorm.Dialector) string {
	t.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	var version string
	if err := db.Raw("SELECT VERSION()").Scan(&version).Error; err != nil {
		t.Fatal(err)
	}
	return version
}
