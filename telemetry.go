package statebackend

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
)

// The backend's telemetry: a span per call, metrics, and the statement hooks
// that feed them. Everything here goes through the OpenTelemetry API only;
// the application chooses the SDK (or none). The README's "Observability"
// section lists what is recorded.

// instrumentationName is the instrumentation scope of the backend's tracer
// and meter.
const instrumentationName = "github.com/taskstate/statebackend"

// WithTracerProvider makes the backend create its spans with tp. By default
// it uses the global provider (otel.GetTracerProvider), which records
// nothing until the application installs an SDK with otel.SetTracerProvider,
// before or after Open.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.telemetry.tracerProvider = tp }
}

// WithMeterProvider makes the backend create its instruments with mp. By
// default it uses the global provider (otel.GetMeterProvider), which records
// nothing until the application installs an SDK with otel.SetMeterProvider,
// before or after Open.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.telemetry.meterProvider = mp }
}

// WithStatementSpans adds, under the span of each call, a span per SQL
// statement the call runs, with the statement's text (placeholders, never
// arguments) and the rows it changed or returned. Off by default: a call's
// span says what most users need, and a batch write runs many statements.
// With statement spans the statements are the Client spans and the calls'
// spans become Internal ones.
func WithStatementSpans() Option {
	return func(o *options) { o.telemetry.statementSpans = true }
}

// WithoutTelemetry leaves out the backend's instrumentation altogether: no
// span, no metric, no callback registered with any provider, so a call costs
// what it costs without instrumentation. WithTracerProvider,
// WithMeterProvider and WithStatementSpans are then ignored. Logging
// (WithLogger) is unaffected.
func WithoutTelemetry() Option {
	return func(o *options) { o.telemetry.off = true }
}

type telemetryOptions struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	statementSpans bool
	off            bool
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

// telemetry holds a backend's tracer, instruments and precomputed
// attributes. A nil *telemetry (WithoutTelemetry) does nothing.
type telemetry struct {
	tracer         trace.Tracer
	meter          metric.Meter
	statementSpans bool
	appID          string
	// base are the attributes of everything the backend records.
	base      []attribute.KeyValue
	ops       [numOperations]opTelemetry
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

// newTelemetry returns the telemetry of a backend on the database dl
// describes, or nil when o turns it off.
func newTelemetry(o telemetryOptions, dl Dialect, appID string, tables entities.Tables) *telemetry {
	if o.off {
		return nil
	}
	tp, mp := o.tracerProvider, o.meterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := &telemetry{
		tracer:         tp.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL)),
		meter:          mp.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL)),
		statementSpans: o.statementSpans,
		appID:          appID,
	}
	t.base = []attribute.KeyValue{semconv.DBSystemNameKey.String(dl.Name)}
	if dl.Namespace != "" {
		t.base = append(t.base, semconv.DBNamespaceKey.String(dl.Namespace))
	}
	t.base = append(t.base, attrAppID.String(appID))

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
	if o.statementSpans {
		kind = trace.SpanKindInternal
	}
	for op := range numOperations {
		info := operations[op]
		attrs := append(append([]attribute.KeyValue{}, t.base...), semconv.DBOperationNameKey.String(info.name))
		if info.model != "" {
			attrs = append(attrs, semconv.DBCollectionNameKey.String(tables.Name(info.model)))
		}
		ot := &t.ops[op]
		ot.spanName = "statebackend." + info.name
		ot.start = []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
		for oc := range numOutcomes {
			set := attribute.NewSet(append(append([]attribute.KeyValue{}, attrs...), attrOutcome.String(outcomeNames[oc]))...)
			ot.outcomes[oc] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	return t
}

// observer returns the repository's statement observer, nil when
// telemetry is off.
func (t *telemetry) observer() repository.Observer {
	if t == nil {
		return nil
	}
	return t.statement
}

// watch starts what lives as long as the backend: the pool gauges and,
// with statement spans, GORM's statement callbacks. close undoes it.
func (t *telemetry) watch(db *gorm.DB, sqlDB *sql.DB) {
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

// close unregisters the pool gauges: after Close nothing reads the pool.
func (t *telemetry) close() {
	if t == nil || t.pool == nil {
		return
	}
	if err := t.pool.Unregister(); err != nil {
		otel.Handle(err)
	}
}

// retried counts a retry of op and notes it on the call's span.
func (t *telemetry) retried(ctx context.Context, op string, attempt int, reason string) {
	if t == nil {
		return
	}
	attrs := append(append([]attribute.KeyValue{}, t.base...),
		semconv.DBOperationNameKey.String(op), attrRetryReason.String(reason))
	t.retries.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	if s := stateOf(ctx); s != nil {
		s.span.AddEvent("retry", trace.WithAttributes(attrAttempt.Int(attempt), attrRetryReason.String(reason)))
	}
}

// grouped records a commit group of the group committer: its size, and on
// each write's span the size of the group it went in.
func (t *telemetry) grouped(live []*writeReq) {
	if t == nil || len(live) == 0 {
		return
	}
	t.groupSize.Record(context.Background(), int64(len(live)), t.groupOpts...)
	for _, r := range live {
		if s := stateOf(r.ctx); s != nil {
			s.group.Store(int64(len(live)))
		}
	}
}

// alone records a write the group committer ran on its own, without a
// queue: a group of one.
func (t *telemetry) alone(ctx context.Context) {
	if t == nil {
		return
	}
	t.groupSize.Record(context.Background(), 1, t.groupOpts...)
	if s := stateOf(ctx); s != nil {
		s.group.Store(1)
	}
}

// counted returns fn counting its runs as the attempts of the call in ctx,
// if a span records it; otherwise fn itself.
func (t *telemetry) counted(ctx context.Context, fn func(*gorm.DB) error) func(*gorm.DB) error {
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

// merged records an attempt of the call in ctx whose rows the group
// committer inserted together with other calls': rows rows changed.
func (t *telemetry) merged(ctx context.Context, rows int) {
	if t == nil {
		return
	}
	if s := stateOf(ctx); s != nil {
		s.attempts.Add(1)
		s.rows.Store(int64(rows))
		s.wrote.Store(true)
	}
}

// retrying reports that op failed on a transient error and runs again: a
// log record, the retries counter, and an event on the call's span.
func (b *gormBackend) retrying(ctx context.Context, op string, attempt int, reason string, err error) {
	// Waiting for another process's lock is routine on SQLite: Debug, not
	// Warn, or the log would fill under ordinary contention.
	level := slog.LevelWarn
	if reason == TransientBusy {
		level = slog.LevelDebug
	}
	b.log.Log(ctx, level, "retrying after transient error", "operation", op, "attempt", attempt, "reason", reason, "err", err)
	b.tel.retried(ctx, op, attempt, reason)
}
