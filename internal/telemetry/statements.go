package telemetry

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/repository"
)

// statement observes a compiled statement of the repository: it adds the
// rows a write changed to its call and, with statement spans, wraps the
// statement in a span of its own. Outside a recording call it does
// nothing.
func (t *Telemetry) statement(ctx context.Context, st repository.Statement) (context.Context, func(int64, error)) {
	if !t.spans() {
		return ctx, nil // no call records: spare the context lookup
	}
	s := stateOf(ctx)
	if s == nil {
		return ctx, nil
	}
	if !t.statementSpans {
		if st.Query {
			return ctx, nil
		}
		return ctx, s.changed
	}
	ctx, span := t.tracer.Start(ctx, st.Name, t.statementStart(st.SQL)...)
	return ctx, func(rows int64, err error) {
		if st.Query {
			span.SetAttributes(semconv.DBResponseReturnedRowsKey.Int64(rows))
		} else {
			s.changed(rows, err)
			span.SetAttributes(attrRowsAffected.Int64(rows))
		}
		endStatement(span, err)
	}
}

// statementStart returns the start options of a statement span.
func (t *Telemetry) statementStart(sql string) []trace.SpanStartOption {
	attrs := append(append([]attribute.KeyValue{}, t.base...),
		semconv.DBOperationNameKey.String(sqlVerb(sql)), semconv.DBQueryTextKey.String(sql))
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}
}

func endStatement(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(outcomeNames[classify(err)]))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// sqlVerb returns the command of a statement ("SELECT", "INSERT", ...); a
// common table expression counts as the SELECT it ends with.
func sqlVerb(sql string) string {
	verb, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	verb = strings.ToUpper(verb)
	if verb == "WITH" {
		return "SELECT"
	}
	return verb
}

// statementSpanKey is where a GORM statement keeps its span between the
// callbacks.
const statementSpanKey = "statebackend:span"

// registerGormCallbacks wraps the statements GORM builds at run time (the
// maintenance operations: Purge, DiscoverAppInfos) in statement spans. The
// compiled statements bypass GORM's callbacks; statement observes those.
func (t *Telemetry) registerGormCallbacks(db *gorm.DB) error {
	type registerer interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	cb := db.Callback()
	var errs []error
	for _, p := range []struct {
		name          string
		before, after registerer
	}{
		{"create", cb.Create().Before("gorm:create"), cb.Create().After("gorm:create")},
		{"query", cb.Query().Before("gorm:query"), cb.Query().After("gorm:query")},
		{"update", cb.Update().Before("gorm:update"), cb.Update().After("gorm:update")},
		{"delete", cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete")},
		{"row", cb.Row().Before("gorm:row"), cb.Row().After("gorm:row")},
		{"raw", cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw")},
	} {
		errs = append(errs, p.before.Register("statebackend:before_"+p.name, t.gormBefore),
			p.after.Register("statebackend:after_"+p.name, t.gormAfter))
	}
	return errors.Join(errs...)
}

// gormBefore starts the span of a GORM statement inside a recording call.
func (t *Telemetry) gormBefore(db *gorm.DB) {
	ctx := db.Statement.Context
	if db.DryRun || ctx == nil || stateOf(ctx) == nil {
		return
	}
	ctx, span := t.tracer.Start(ctx, "gorm", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.base...))
	db.Statement.Context = ctx
	db.InstanceSet(statementSpanKey, span)
}

// gormAfter ends the span gormBefore started, naming it after its SQL.
func (t *Telemetry) gormAfter(db *gorm.DB) {
	v, ok := db.InstanceGet(statementSpanKey)
	if !ok {
		return
	}
	span := v.(trace.Span)
	sql := db.Statement.SQL.String()
	verb := sqlVerb(sql)
	span.SetName(strings.TrimSpace(verb + " " + db.Statement.Table))
	span.SetAttributes(semconv.DBOperationNameKey.String(verb), semconv.DBQueryTextKey.String(sql))
	if verb == "SELECT" {
		span.SetAttributes(semconv.DBResponseReturnedRowsKey.Int64(db.Statement.RowsAffected))
	} else {
		span.SetAttributes(attrRowsAffected.Int64(db.Statement.RowsAffected))
	}
	if db.Statement.Table != "" {
		span.SetAttributes(semconv.DBCollectionNameKey.String(db.Statement.Table))
	}
	err := db.Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = nil
	}
	endStatement(span, err)
}
