package telemetry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// outcome is how a call ended, for the outcome attribute of spans and of
// the duration histogram.
type outcome uint8

const (
	outcomeOK outcome = iota
	// outcomeNotFound is ErrNotFound: an expected answer, not a failure.
	outcomeNotFound
	outcomeInvalidArgument
	outcomeClosed
	// outcomeContext is the caller's context ending (canceled or past its
	// deadline).
	outcomeContext
	// outcomeDatabase is any other error: from the database, its driver,
	// or a stored row that does not decode.
	outcomeDatabase
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "not_found", "invalid_argument", "closed", "context", "database"}

// classify returns the outcome of a call that returned err.
func classify(err error) outcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, state.ErrInvalidArgument):
		return outcomeInvalidArgument
	case errors.Is(err, state.ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, state.ErrClosed):
		return outcomeClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeContext
	}
	return outcomeDatabase
}

// failed says whether the outcome marks the span as an error. Not found
// does not: looking up what may not exist yet (a result, workflow data) is
// ordinary, and an error status would make every such trace look broken.
func (oc outcome) failed() bool { return oc != outcomeOK && oc != outcomeNotFound }

// Call observes one public call of the backend: its span and its
// duration. The zero Call (telemetry off) does nothing.
type Call struct {
	t     *Telemetry
	op    op.Op
	ctx   context.Context
	span  trace.Span // nil when the tracer is inert (see Telemetry.spans)
	start time.Time
	// state is set when the span records: the details only a recorded span
	// shows are gathered there.
	state *callState
}

// callState gathers what the database layer learns during a call whose
// span records. It is reached through the call's context, also from the
// group committer's goroutine, hence the atomics.
type callState struct {
	span     trace.Span
	attempts atomic.Int64
	rows     atomic.Int64
	wrote    atomic.Bool
	group    atomic.Int64
}

type callKey struct{}

// stateOf returns the state of the call ctx belongs to, nil when none
// records.
func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(callKey{}).(*callState)
	return s
}

// changed adds the rows a write statement changed.
func (s *callState) changed(rows int64, _ error) {
	s.rows.Add(rows)
	s.wrote.Store(true)
}

// Start begins observing a call of the public operation o. The returned
// context carries the call's span; pass it to the database layer, and end
// the call with its error:
//
//	ctx, c := tel.Start(ctx, op.Result)
//	defer c.End(&err)
func (t *Telemetry) Start(ctx context.Context, o op.Op) (context.Context, Call) {
	if t == nil || !o.Public() {
		return ctx, Call{}
	}
	c := Call{t: t, op: o, ctx: ctx}
	if !t.spans() {
		if t.duration.Enabled(ctx) {
			c.start = time.Now()
		}
		return ctx, c
	}
	ot := &t.ops[o]
	ctx, span := t.tracer.Start(ctx, ot.spanName, ot.start...)
	c.ctx, c.span = ctx, span
	if span.IsRecording() {
		c.state = &callState{span: span}
		ctx = context.WithValue(ctx, callKey{}, c.state)
		c.ctx = ctx
	}
	if c.state != nil || t.duration.Enabled(ctx) {
		c.start = time.Now()
	}
	return ctx, c
}

// End ends the call with the error *errp.
func (c Call) End(errp *error) {
	if c.t == nil {
		return
	}
	err := *errp
	oc := classify(err)
	if !c.start.IsZero() {
		c.t.duration.Record(c.ctx, time.Since(c.start).Seconds(), c.t.ops[c.op].outcomes[oc]...)
	}
	if s := c.state; s != nil {
		attrs := make([]attribute.KeyValue, 0, 5)
		attrs = append(attrs, attrOutcome.String(outcomeNames[oc]))
		if n := s.attempts.Load(); n > 0 {
			attrs = append(attrs, attrAttempts.Int64(n))
		}
		if s.wrote.Load() {
			attrs = append(attrs, attrRowsAffected.Int64(s.rows.Load()))
		}
		if n := s.group.Load(); n > 0 {
			attrs = append(attrs, attrGroupSize.Int64(n))
		}
		if oc.failed() {
			attrs = append(attrs, semconv.ErrorTypeKey.String(outcomeNames[oc]))
			c.span.SetStatus(codes.Error, err.Error())
		}
		c.span.SetAttributes(attrs...)
	}
	if c.span != nil {
		c.span.End()
	}
}

// Batch notes the number of items the call was given.
func (c Call) Batch(n int) {
	if c.state != nil {
		c.span.SetAttributes(attrBatchSize.Int(n))
	}
}

// Returned notes the number of items the call returned.
func (c Call) Returned(n int) {
	if c.state != nil {
		c.span.SetAttributes(semconv.DBResponseReturnedRowsKey.Int(n))
	}
}

// Page notes which page of a time-range iteration the call reads, and the
// page size asked for.
func (c Call) Page(page, size int) {
	if c.state != nil {
		c.span.SetAttributes(attrPage.Int(page), attrBatchSize.Int(size))
	}
}

// Pruned counts the rows an operation deleted, per table, and notes their
// total as the rows it affected.
func (c Call) Pruned(deleted map[string]int64) {
	if c.t == nil {
		return
	}
	var total int64
	for table, n := range deleted {
		total += n
		attrs := append(append([]attribute.KeyValue{}, c.t.base...),
			semconv.DBOperationNameKey.String(c.op.String()), semconv.DBCollectionNameKey.String(table))
		c.t.pruned.Add(c.ctx, n, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	}
	if s := c.state; s != nil {
		s.rows.Store(total)
		s.wrote.Store(true)
	}
}
