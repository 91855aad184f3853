package telemetry

import (
	"context"
	"database/sql"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Metric names of the connection pool gauges: OpenTelemetry's database
// client conventions where they have one, the backend's own otherwise.
const (
	metricPoolConnections = "db.client.connection.count"
	metricPoolMax         = "db.client.connection.max"
	metricPoolWaits       = "statebackend.pool.waits"
	metricPoolWaitTime    = "statebackend.pool.wait.duration"
	metricPoolClosed      = "statebackend.pool.closed"
)

// attrPoolCloseReason says why the pool closed connections: the idle
// connection limit ("max_idle"), their idle time ("max_idle_time") or their
// lifetime ("max_lifetime").
const attrPoolCloseReason = attribute.Key("statebackend.pool.close_reason")

// observePool registers observable instruments that read db.Stats() when,
// and only when, a reader collects them: no goroutine, no work between
// collections. close unregisters them.
func (t *Telemetry) observePool(db *sql.DB) error {
	m := t.meter
	conns, err1 := m.Int64ObservableUpDownCounter(metricPoolConnections, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections of the backend's pool, by state (idle or used)."))
	maxConns, err2 := m.Int64ObservableUpDownCounter(metricPoolMax, metric.WithUnit("{connection}"),
		metric.WithDescription("The most connections the backend's pool opens (0: no limit)."))
	waits, err3 := m.Int64ObservableCounter(metricPoolWaits, metric.WithUnit("{wait}"),
		metric.WithDescription("Times a call waited for a connection of the backend's pool."))
	waitTime, err4 := m.Float64ObservableCounter(metricPoolWaitTime, metric.WithUnit("s"),
		metric.WithDescription("Time calls spent waiting for a connection of the backend's pool."))
	closed, err5 := m.Int64ObservableCounter(metricPoolClosed, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections the backend's pool closed, by reason."))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}

	pool := append(append([]attribute.KeyValue{}, t.base...), semconv.DBClientConnectionPoolNameKey.String(t.poolName()))
	with := func(extra ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue{}, pool...), extra...)...))
	}
	idle, used, all := with(semconv.DBClientConnectionStateIdle), with(semconv.DBClientConnectionStateUsed), with()
	maxIdle := with(attrPoolCloseReason.String("max_idle"))
	maxIdleTime := with(attrPoolCloseReason.String("max_idle_time"))
	maxLifetime := with(attrPoolCloseReason.String("max_lifetime"))

	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Stats()
		o.ObserveInt64(conns, int64(s.Idle), idle)
		o.ObserveInt64(conns, int64(s.InUse), used)
		o.ObserveInt64(maxConns, int64(s.MaxOpenConnections), all)
		o.ObserveInt64(waits, s.WaitCount, all)
		o.ObserveFloat64(waitTime, s.WaitDuration.Seconds(), all)
		o.ObserveInt64(closed, s.MaxIdleClosed, maxIdle)
		o.ObserveInt64(closed, s.MaxIdleTimeClosed, maxIdleTime)
		o.ObserveInt64(closed, s.MaxLifetimeClosed, maxLifetime)
		return nil
	}, conns, maxConns, waits, waitTime, closed)
	if err != nil {
		return err
	}
	t.pool = reg
	return nil
}

// poolName names the backend's pool (db.client.connection.pool.name):
// "statebackend", with "/" and the app id when there is one.
func (t *Telemetry) poolName() string {
	if t.appID == "" {
		return "statebackend"
	}
	return "statebackend/" + t.appID
}
