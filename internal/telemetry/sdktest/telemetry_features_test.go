package sdktest_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/sqlite"
)

// spanAttr returns the value of attribute key on s, and whether it is set.
func spanAttr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestTelemetryPoolGauges checks that the pool gauges read the pool when
// collected, and that Close unregisters them.
func TestTelemetryPoolGauges(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	b := sqlitetest.Open(t, sqlitetest.Path(t), "pool", rec.options()...)
	if err := b.SetResult(context.Background(), "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	base := []attribute.KeyValue{
		attribute.String("db.system.name", "sqlite"), attribute.String("statebackend.app_id", "pool"),
		attribute.String("db.client.connection.pool.name", "statebackend/pool"),
	}
	ms := rec.collect(t)
	var namespace string
	for _, s := range rec.spans.Ended() {
		v, _ := spanAttr(s, "db.namespace")
		namespace = v.AsString()
	}
	base = append(base, attribute.String("db.namespace", namespace))
	with := func(more ...attribute.KeyValue) string {
		return encode(append(append([]attribute.KeyValue{}, base...), more...)...)
	}

	// Idle between calls: every open connection is idle. How many are open
	// is the pool's business; at least the one that wrote.
	counts := points(t, ms["db.client.connection.count"])
	if len(counts) != 2 || counts[with(attribute.String("db.client.connection.state", "used"))] != 0 ||
		counts[with(attribute.String("db.client.connection.state", "idle"))] < 1 {
		t.Errorf("db.client.connection.count: %v", counts)
	}
	checkPoints(t, ms, "db.client.connection.max", map[string]float64{with(): 8}) // the SQLite package's default
	checkPoints(t, ms, "statebackend.pool.waits", map[string]float64{with(): 0})
	checkPoints(t, ms, "statebackend.pool.wait.duration", map[string]float64{with(): 0})
	if got := points(t, ms["statebackend.pool.closed"]); len(got) != 3 {
		t.Errorf("statebackend.pool.closed: %v, want a point for each of 3 reasons", got)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ms = rec.collect(t)
	for _, name := range []string{"db.client.connection.count", "db.client.connection.max", "statebackend.pool.waits"} {
		checkPoints(t, ms, name, nil)
	}
}

// TestTelemetryStatementSpans checks the optional statement spans: a child
// span per statement, compiled or built by GORM, with the statement's text
// and never its arguments.
func TestTelemetryStatementSpans(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	b := sqlitetest.Open(t, sqlitetest.Path(t), "stmts", append(rec.options(), statebackend.WithStatementSpans())...)
	ctx := context.Background()
	secret := "payload-that-must-not-leak"
	if err := b.SetResult(ctx, "a", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Result(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	spans := rec.spans.Ended()
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var calls []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "statebackend.") {
			calls = append(calls, s)
		} else {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
		}
	}
	if len(calls) != 3 {
		t.Fatalf("%d call spans, want 3", len(calls))
	}
	for _, c := range calls {
		if c.SpanKind() != trace.SpanKindInternal {
			t.Errorf("%s: kind %v, want internal under statement spans", c.Name(), c.SpanKind())
		}
		for _, s := range children[c.SpanContext().SpanID()] {
			if s.SpanKind() != trace.SpanKindClient {
				t.Errorf("statement span %s: kind %v, want client", s.Name(), s.SpanKind())
			}
			text, _ := spanAttr(s, "db.query.text")
			if text.AsString() == "" || strings.Contains(text.AsString(), secret) || strings.Contains(text.AsString(), "'a'") {
				t.Errorf("statement span %s: db.query.text %q", s.Name(), text.AsString())
			}
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("statement span %s: attribute %s holds the payload", s.Name(), kv.Key)
				}
			}
		}
	}
	one := func(call sdktrace.ReadOnlySpan, verb string, rowsKey string, rows int64) {
		t.Helper()
		kids := children[call.SpanContext().SpanID()]
		if len(kids) != 1 {
			t.Fatalf("%s: %d statement spans, want 1", call.Name(), len(kids))
		}
		op, _ := spanAttr(kids[0], "db.operation.name")
		n, _ := spanAttr(kids[0], rowsKey)
		if op.AsString() != verb || n.AsInt64() != rows {
			t.Errorf("%s: statement %s: %s %s=%d, want %s %d", call.Name(), kids[0].Name(), op.AsString(), rowsKey, n.AsInt64(), verb, rows)
		}
	}
	one(calls[0], "INSERT", "statebackend.rows_affected", 1)
	one(calls[1], "SELECT", "db.response.returned_rows", 1)
	// Purge deletes from each of the app's 9 data tables and from the
	// table of current statuses, through GORM; it also empties the
	// changes table and records how far (statements of their own).
	var deleted int64
	tables := map[string]bool{}
	for _, s := range children[calls[2].SpanContext().SpanID()] {
		op, _ := spanAttr(s, "db.operation.name")
		table, _ := spanAttr(s, "db.collection.name")
		n, _ := spanAttr(s, "statebackend.rows_affected")
		if strings.HasSuffix(table.AsString(), "_changes") || strings.HasSuffix(table.AsString(), "_leases") {
			continue
		}
		if op.AsString() != "DELETE" || s.Name() != "DELETE "+table.AsString() {
			t.Errorf("Purge statement %s: operation %s, table %s", s.Name(), op.AsString(), table.AsString())
		}
		tables[table.AsString()] = true
		deleted += n.AsInt64()
	}
	if len(tables) != 10 {
		t.Errorf("Purge deleted from %d tables besides the changes, want 10", len(tables))
	}
	if deleted != 1 {
		t.Errorf("Purge statements deleted %d rows, want 1", deleted)
	}
}

// TestWithoutTelemetry checks that WithoutTelemetry records nothing even
// when providers are given.
func TestWithoutTelemetry(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	b := sqlitetest.Open(t, sqlitetest.Path(t), "off", append(rec.options(), statebackend.WithoutTelemetry())...)
	if err := b.SetResult(context.Background(), "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Result(context.Background(), "missing"); !errors.Is(err, statebackend.ErrNotFound) {
		t.Fatal(err)
	}
	if n := len(rec.spans.Ended()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
	if ms := rec.collect(t); len(ms) != 0 {
		t.Errorf("metrics recorded: %v", ms)
	}
}

// TestTelemetryGroupCommit checks the group-commit size histogram and
// attribute under concurrent writers: every write is counted in exactly
// one group.
func TestTelemetryGroupCommit(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	b := sqlitetest.Open(t, sqlitetest.Path(t), "groups", rec.options()...)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := b.SetResult(context.Background(), statebackend.InvocationID(fmt.Sprintf("w%d-%d", w, i)), []byte("x")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h, ok := rec.collect(t)["statebackend.group_commit.size"].Data.(metricdata.Histogram[int64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("group_commit.size: %+v", h)
	}
	p := h.DataPoints[0]
	if p.Sum != writers*each || p.Count < 1 || p.Count > writers*each {
		t.Errorf("group_commit.size: %d writes in %d groups, want %d writes", p.Sum, p.Count, writers*each)
	}
	// A write's span says the size of its group: summed over the spans,
	// 1/size counts the groups.
	var groups float64
	for _, s := range rec.spans.Ended() {
		size, ok := spanAttr(s, "statebackend.group_commit.size")
		if !ok || size.AsInt64() < 1 || size.AsInt64() > writers {
			t.Fatalf("%s: group_commit.size %v", s.Name(), size.String())
		}
		groups += 1 / float64(size.AsInt64())
	}
	t.Logf("%d writes in %d groups", p.Sum, p.Count)
	if diff := groups - float64(p.Count); diff > 1e-6 || diff < -1e-6 {
		t.Errorf("spans count %.3f groups, the histogram %d", groups, p.Count)
	}
}

// logSink collects a logger's records as JSON objects.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestTelemetryRetries holds SQLite's write lock from another connection
// until the backend has retried a write at least once, then checks the
// retries counter, the retry events of the call's span, and the log
// records: each with operation, app id and database, none with the payload
// or the connection string.
func TestTelemetryRetries(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	path := sqlitetest.Path(t)
	d := sqlite.Open(path)
	// A short busy timeout, so that the held lock fails the write fast.
	d.DSN = strings.Replace(d.DSN, "_busy_timeout=10000", "_busy_timeout=200", 1)
	sink := &logSink{}
	logger := slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := statebackend.Open(d, append(rec.options(), statebackend.WithAppID("retries"), statebackend.WithLogger(logger))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	lockDB, err := sql.Open(sqlite.DriverName, "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer lockDB.Close()
	ctx := context.Background()
	conn, err := lockDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	secret := "payload-that-must-not-leak"
	done := make(chan error, 1)
	go func() { done <- b.SetResult(ctx, "inv-1", []byte(secret)) }()

	retries := func() float64 {
		var n float64
		for _, v := range points(t, orEmpty(rec.collect(t)["statebackend.retries"])) {
			n += v
		}
		return n
	}
	err = poll.Until(ctx, "a retry is recorded", func(context.Context) error {
		if retries() < 1 {
			return errors.New("no retry recorded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("SetResult after the lock was released: %v", err)
	}

	var call sdktrace.ReadOnlySpan
	for _, s := range rec.spans.Ended() {
		if s.Name() == "statebackend.SetResult" {
			call = s
		}
	}
	if call == nil {
		t.Fatal("no SetResult span")
	}
	attempts, _ := spanAttr(call, "statebackend.attempts")
	var events int64
	for _, e := range call.Events() {
		reason := attribute.NewSet(e.Attributes...)
		if v, _ := reason.Value("statebackend.retry.reason"); e.Name != "retry" || v.AsString() != "busy" {
			t.Errorf("event %s %v", e.Name, e.Attributes)
		}
		events++
	}
	if call.Status().Code != codes.Unset || attempts.AsInt64() < 2 || events != attempts.AsInt64()-1 {
		t.Errorf("SetResult span: status %v, %d attempts, %d retry events", call.Status(), attempts.AsInt64(), events)
	}
	t.Logf("SetResult took %d attempts", attempts.AsInt64())
	want := map[string]float64{encode(
		attribute.String("db.system.name", "sqlite"), attribute.String("db.namespace", path),
		attribute.String("statebackend.app_id", "retries"), attribute.String("db.operation.name", "SetResult"),
		attribute.String("statebackend.retry.reason", "busy"),
	): float64(events)}
	checkPoints(t, rec.collect(t), "statebackend.retries", want)

	logs := sink.records(t)
	if len(logs) < int(events) {
		t.Errorf("%d log records, want at least %d (one per retry)", len(logs), events)
	}
	for _, r := range logs {
		if r["operation"] == nil || r["app_id"] != "retries" || r["database"] != "sqlite" {
			t.Errorf("log record without operation, app_id and database: %v", r)
		}
		line := fmt.Sprint(r)
		if strings.Contains(line, secret) || strings.Contains(line, "_busy_timeout") {
			t.Errorf("log record leaks the payload or the DSN: %v", r)
		}
	}
}

// orEmpty returns m, or an empty sum when the metric has no data yet.
func orEmpty(m metricdata.Metrics) metricdata.Metrics {
	if m.Data == nil {
		m.Data = metricdata.Sum[int64]{}
	}
	return m
}

// TestTelemetryPrune checks that a prune is one span named
// statebackend.Prune and that the rows it deleted count in
// statebackend.rows.pruned, per table; a dry run counts nothing.
func TestTelemetryPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := newRecorder(t)
	appID := "prune_" + randomSuffix()
	b := sqlitetest.Open(t, sqlitetest.Path(t), appID, rec.options()...)
	task := statebackend.TaskID{Module: "m", FuncName: "f"}
	old := time.Now().Add(-48 * time.Hour)
	for i := range 3 {
		id := statebackend.InvocationID(fmt.Sprintf("inv-%d", i))
		inv := statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: statebackend.NoArgs},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}
		if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
			t.Fatal(err)
		}
		for k, st := range []statebackend.Status{statebackend.StatusRunning, statebackend.StatusSuccess} {
			at := old.Add(time.Duration(k) * time.Second)
			if err := b.AddHistory(ctx, []statebackend.InvocationID{id}, statebackend.InvocationHistory{
				Timestamp: at, StatusRecord: statebackend.StatusRecord{Status: st, Timestamp: at},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pruner := b
	if _, err := pruner.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if m, ok := rec.collect(t)["statebackend.rows.pruned"]; ok && len(points(t, m)) > 0 {
		t.Fatalf("a dry run counted pruned rows: %v", points(t, m))
	}
	stats, err := pruner.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Invocations != 3 || stats.History != 6 {
		t.Fatalf("pruned %+v, want 3 invocations and 6 history records", stats)
	}
	tables, err := entities.NewTables(appID, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := points(t, rec.collect(t)["statebackend.rows.pruned"])
	for model, want := range map[string]float64{"Invocation": 3, "History": 6} {
		found := false
		for key, n := range got {
			if strings.Contains(key, "db.collection.name="+tables.Name(model)) && strings.Contains(key, "db.operation.name=Prune") {
				found = true
				if n != want {
					t.Errorf("rows.pruned of %s: %v, want %v", model, n, want)
				}
			}
		}
		if !found {
			t.Errorf("rows.pruned has no point for %s: %v", model, got)
		}
	}
	var spans int
	for _, s := range rec.spans.Ended() {
		if s.Name() == "statebackend.Prune" {
			spans++
		}
	}
	if spans != 2 {
		t.Errorf("%d statebackend.Prune spans, want 2", spans)
	}
}
