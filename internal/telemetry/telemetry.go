// Package telemetry records the backend's OpenTelemetry traces and
// metrics: a span per call, call durations, retries, commit-group sizes,
// rows pruned, connection pool gauges and, optionally, a span per SQL
// statement. It goes through the OpenTelemetry API only; the application
// chooses the SDK (or none). A nil *Telemetry records nothing, so the
// backend calls it unconditionally.
//
// It owns nothing of the backend: callers hand it the call's context, an
// operation (package op) and counts, and the repository's statement hook.
package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/repository"
)

// instrumentationName is the instrumentation scope of the backend's tracer
// and meter.
const instrumentationName = "github.com/taskstate/statebackend"

// Options chooses the providers and what is recorded.
type Options struct {
	// TracerProvider and MeterProvider default to OpenTelemetry's global
	// providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// StatementSpans adds a span per SQL statement under each call's.
	StatementSpans bool
	// Off leaves the instrumentation out: New returns nil.
	Off bool
}

// Info describes the backend being observed.
type Info struct {
	// System and Namespace are OpenTelemetry's db.system.name and
	// db.namespace (Namespace "" leaves it out).
	System, Namespace string
	// AppID is the app id the backend was opened with.
	AppID string
	// Table returns the table name of an entity ("History"), with the
	// app's prefix.
	Table func(model string) string
}

// Attribute keys of the backend's own; the others are OpenTelemetry's
// database semantic conventions.
const (
	// attrAppID is the app id the backend was opened with ("" by default).
	attrAppID = attribute.Key("statebackend.app_id")
	// attrOutcome is how a call ended: "ok" or an error category.
	attrOutcome = attribute.Key("statebackend.outcome")
	// attrBatchSize is the number of items a call was given (ids,
	// invocations); for a page of a time-range iterator, the page size
	// asked for.
	attrBatchSize = attribute.Key("statebackend.batch.size")
	// attrPage numbers the pages of a time-range iteration from 1.
	attrPage = attribute.Key("statebackend.page")
	// attrRowsAffected is the number of rows a write changed, as the
	// database reports it.
	attrRowsAffected = attribute.Key("statebackend.rows_affected")
	// attrAttempts is the number of times a call ran its statements: 1
	// unless it was retried after a transient error or its commit group
	// failed.
	attrAttempts = attribute.Key("statebackend.attempts")
	// attrGroupSize is the number of writes in the commit group a write
	// ran in (single-writer databases). When the group's transaction fails,
	// its writes are retried one by one, which attrAttempts counts.
	attrGroupSize = attribute.Key("statebackend.group_commit.size")
	// attrRetryReason is the reason the dialect gave for retrying.
	attrRetryReason = attribute.Key("statebackend.retry.reason")
	// attrAttempt numbers the attempt that failed, on a retry event.
	attrAttempt = attribute.Key("statebackend.attempt")
)

// Metric names.
const (
	metricCallDuration = "statebackend.call.duration"
	metricRetries      = "statebackend.retries"
	metricGroupSize    = "statebackend.group_commit.size"
	metricRowsPruned   = "statebackend.rows.pruned"
)

// Telemetry holds a backend's tracer, instruments and precomputed
// attributes. A nil *Telemetry does nothing.
type Telemetry struct {
	tracer trace.Tracer
	// inert is set when tracer's spans record nothing and carry nothing
	// a call's context does not have already: OpenTelemetry's global
	// tracer before a program installs a provider, or a no-op tracer.
	// Starting such a span only costs allocations, so Start leaves it
	// out (see spans). global is OpenTelemetry's global provider when
	// that is tp, whether given in Options or by default; nil otherwise.
	inert          bool
	global         trace.TracerProvider
	meter          metric.Meter
	statementSpans bool
	appID          string
	// base are the attributes of everything the backend records.
	base      []attribute.KeyValue
	ops       [op.NumPublic]opTelemetry
	duration  metric.Float64Histogram
	retries   metric.Int64Counter
	groupSize metric.Int64Histogram
	groupOpts []metric.RecordOption
	pruned    metric.Int64Counter
	// pool unregisters the connection pool callback at Close.
	pool metric.Registration
}

// opTelemetry is what a call of one operation records, computed at Open
// so that a call builds no attributes of its own when nothing records.
type opTelemetry struct {
	spanName string
	start    []trace.SpanStartOption
	// outcomes holds the duration histogram's options for each outcome.
	outcomes [numOutcomes][]metric.RecordOption
}

// New returns the telemetry of the backend info describes, or nil when o
// turns it off.
func New(o Options, info Info) *Telemetry {
	if o.Off {
		return nil
	}
	tp, mp := o.TracerProvider, o.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := &Telemetry{
		tracer:         tp.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL)),
		inert:          isNoop(tp) || isGlobal(tp),
		meter:          mp.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL)),
		statementSpans: o.StatementSpans,
		appID:          info.AppID,
	}
	if isGlobal(tp) {
		t.global = tp
	}
	t.base = []attribute.KeyValue{semconv.DBSystemNameKey.String(info.System)}
	if info.Namespace != "" {
		t.base = append(t.base, semconv.DBNamespaceKey.String(info.Namespace))
	}
	t.base = append(t.base, attrAppID.String(info.AppID))

	// Instruments that fail to be created still work (as no-ops): the
	// error goes to OpenTelemetry's error handler, and Open goes on.
	var errs []error
	var err error
	t.duration, err = t.meter.Float64Histogram(metricCallDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of the backend's calls, by operation and outcome."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
			0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	errs = append(errs, err)
	t.retries, err = t.meter.Int64Counter(metricRetries,
		metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts retried after a transient database error, by operation and reason."))
	errs = append(errs, err)
	t.groupSize, err = t.meter.Int64Histogram(metricGroupSize,
		metric.WithUnit("{write}"),
		metric.WithDescription("Writes the group committer ran together in one transaction."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256))
	errs = append(errs, err)
	t.pruned, err = t.meter.Int64Counter(metricRowsPruned,
		metric.WithUnit("{row}"),
		metric.WithDescription("Rows deleted by the operations that delete state, by operation and table."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		otel.Handle(err)
	}
	t.groupOpts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(t.base...))}

	kind := trace.SpanKindClient
	if o.StatementSpans {
		kind = trace.SpanKindInternal
	}
	for _, o := range op.All() {
		attrs := append(append([]attribute.KeyValue{}, t.base...), semconv.DBOperationNameKey.String(o.String()))
		if m := o.Model(); m != "" && info.Table != nil {
			attrs = append(attrs, semconv.DBCollectionNameKey.String(info.Table(m)))
		}
		ot := &t.ops[o]
		ot.spanName = "statebackend." + o.String()
		ot.start = []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
		for oc := range numOutcomes {
			set := attribute.NewSet(append(append([]attribute.KeyValue{}, attrs...), attrOutcome.String(outcomeNames[oc]))...)
			ot.outcomes[oc] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	return t
}

// isNoop reports whether tp is OpenTelemetry's no-op provider, whose spans
// record nothing and carry no span context of their own.
func isNoop(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return false
}

// isGlobal reports whether tp is OpenTelemetry's global provider as it is
// before a program sets one: its spans record nothing and carry nothing
// until then, and it delegates to the provider set. Its type is
// recognized by its package, which the API does not export; were it
// renamed, calls would go on starting spans, as they do for any other
// provider.
func isGlobal(tp trace.TracerProvider) bool {
	rt := reflect.TypeOf(tp)
	return rt != nil && rt.Kind() == reflect.Pointer &&
		rt.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" && rt.Elem().Name() == "tracerProvider"
}

// spans reports whether a call starts a span: not while the tracer is
// inert; for the global provider, from the moment a program sets another
// (the global tracer then delegates to it).
func (t *Telemetry) spans() bool {
	return !t.inert || (t.global != nil && otel.GetTracerProvider() != t.global)
}

// Observer returns the repository's statement observer, nil when
// telemetry is off.
func (t *Telemetry) Observer() repository.Observer {
	if t == nil {
		return nil
	}
	return t.statement
}

// Watch starts what lives as long as the backend: the pool gauges and,
// with statement spans, GORM's statement callbacks. Close undoes it.
func (t *Telemetry) Watch(db *gorm.DB, sqlDB *sql.DB) {
	if t == nil {
		return
	}
	if err := t.observePool(sqlDB); err != nil {
		otel.Handle(err)
	}
	if t.statementSpans {
		if err := t.registerGormCallbacks(db); err != nil {
			otel.Handle(err)
		}
	}
}

// Close unregisters the pool gauges: afterwards nothing reads the pool.
func (t *Telemetry) Close() {
	if t == nil || t.pool == nil {
		return
	}
	if err := t.pool.Unregister(); err != nil {
		otel.Handle(err)
	}
}

// Retried counts a retry of o and notes it on the call's span.
func (t *Telemetry) Retried(ctx context.Context, o op.Op, attempt int, reason string) {
	if t == nil {
		return
	}
	attrs := append(append([]attribute.KeyValue{}, t.base...),
		semconv.DBOperationNameKey.String(o.String()), attrRetryReason.String(reason))
	t.retries.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	if s := stateOf(ctx); s != nil {
		s.span.AddEvent("retry", trace.WithAttributes(attrAttempt.Int(attempt), attrRetryReason.String(reason)))
	}
}

// GroupSize records the size of a commit group of the group committer
// (1 for a write it ran on its own).
func (t *Telemetry) GroupSize(n int) {
	if t == nil {
		return
	}
	t.groupSize.Record(context.Background(), int64(n), t.groupOpts...)
}

// InGroup notes on the span of the write in ctx the size of the commit
// group it went in.
func (t *Telemetry) InGroup(ctx context.Context, n int) {
	if t == nil {
		return
	}
	if s := stateOf(ctx); s != nil {
		s.group.Store(int64(n))
	}
}

// Counted returns fn counting its runs as the attempts of the call in ctx,
// if a span records it; otherwise fn itself.
func (t *Telemetry) Counted(ctx context.Context, fn func(*gorm.DB) error) func(*gorm.DB) error {
	if t == nil {
		return fn
	}
	s := stateOf(ctx)
	if s == nil {
		return fn
	}
	return func(db *gorm.DB) error {
		s.attempts.Add(1)
		// Only the last attempt's changes count: earlier ones rolled back.
		s.rows.Store(0)
		return fn(db)
	}
}

// Merged records an attempt of the call in ctx whose rows the group
// committer inserted together with other calls': rows rows changed.
func (t *Telemetry) Merged(ctx context.Context, rows int) {
	if t == nil {
		return
	}
	if s := stateOf(ctx); s != nil {
		s.attempts.Add(1)
		s.rows.Store(int64(rows))
		s.wrote.Store(true)
	}
}
