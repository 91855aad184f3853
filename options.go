package statebackend

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/replicas"
	"github.com/taskstate/statebackend/internal/retention"
	"github.com/taskstate/statebackend/internal/telemetry"
	"github.com/taskstate/statebackend/state"
)

// Every option of Open is in this file: the app and the logger, the
// connection pool, schema handling and read-only use, telemetry, read
// replicas, and the background pruner.

// Option configures Open.
type Option func(*options)

type options struct {
	appID         string
	logger        *slog.Logger
	noAutoMigrate bool
	readOnly      bool
	pool          Pool
	poolSet       bool
	retention     Retention
	telemetry     telemetry.Options

	replicas        []gorm.Dialector
	replicaSettings ReplicaSettings
}

// newOptions applies opts to the defaults.
func newOptions(opts []Option) options {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Pool sets the connection pool of the underlying *sql.DB (see WithPool).
// Zero fields keep the database's default (dialect.Dialect.Pool).
type Pool = dialect.Pool

// WithAppID isolates the backend's data under appID, as pynenc does when
// several apps share one database: every table name is prefixed with
// "<sanitized app id>_<first 8 hex of sha256(app id)>__". Without it the
// tables have the names of pynenc's SQLite state backend ("state_backend_results", ...). Backends with
// different app ids never see each other's data, and Purge of one leaves the
// others intact.
func WithAppID(appID string) Option { return func(o *options) { o.appID = appID } }

// WithLogger sets the logger for migrations, retried writes and other
// events, and for the database driver's own messages where the dialector
// routes them (see dialect.LoggingDatabase). The default discards them. Every
// record of the backend carries "operation" (the method, "Open" or "group
// commit"), "app_id" and "database" (the database's system name, as
// Dialect.Name); connection strings and payloads are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutAutoMigrate makes Open leave the schema alone: it reads the
// schema version and changes nothing, not even to create a table. When the
// database is at the library's version (or at a newer one that declares
// itself compatible) Open proceeds; when it is older, or the app has no
// tables yet, Open fails with migrations.ErrSchemaOutdated, naming the
// command that migrates it (`statebackend migrate`, or
// migrations.Migrator.Migrate). For fleets that migrate as a deployment
// step before rolling out new processes.
//
// By default Open migrates the schema to the library's version (see
// migrations.Migrator.Ensure).
func WithoutAutoMigrate() Option { return func(o *options) { o.noAutoMigrate = true } }

// WithPool overrides the connection pool settings. With a pool of one
// connection (MaxOpenConns 1), the backend does not prepare statements
// (Dialect.PrepareStatements): preparing takes a connection of its own.
func WithPool(p Pool) Option { return func(o *options) { o.pool, o.poolSet = p, true } }

// WithReadOnly opens the database for reading only, as a dashboard, an
// inspection tool or a read-only database user needs: every write call
// fails at once with ErrReadOnly, and Open creates, migrates and locks
// nothing. It accepts a schema at any version this library knows, older
// ones included (every version has the columns reads use), a newer one
// that declares itself compatible, and an app without tables (so that
// DiscoverAppInfos works on any database; reading that app's data then
// fails with the database's error).
//
// A database whose dialector implements ReadOnlyDatabase is also opened
// read-only by its driver. On SQLite that is sqlite.ReadOnly: the file is
// opened read-only, so a file the process may not write (a 0444 file,
// another user's, one on a read-only mount) can be read, and no byte of
// it changes; sqlite.ReadOnly says what happens to the -wal and -shm files
// of a database in WAL mode. On Postgres and MySQL the session is left as
// it is: the backend refuses writes before they reach the server; a
// database user without write privileges makes the server refuse them too
// (those refusals also wrap ErrReadOnly).
func WithReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithTracerProvider makes the backend create its spans with tp. By default
// it uses the global provider (otel.GetTracerProvider), which records
// nothing until the application installs an SDK with otel.SetTracerProvider,
// before or after Open.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.telemetry.TracerProvider = tp }
}

// WithMeterProvider makes the backend create its instruments with mp. By
// default it uses the global provider (otel.GetMeterProvider), which records
// nothing until the application installs an SDK with otel.SetMeterProvider,
// before or after Open.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.telemetry.MeterProvider = mp }
}

// WithStatementSpans adds, under the span of each call, a span per SQL
// statement the call runs, with the statement's text (placeholders, never
// arguments) and the rows it changed or returned. Off by default: a call's
// span says what most users need, and a batch write runs many statements.
// With statement spans the statements are the Client spans and the calls'
// spans become Internal ones.
func WithStatementSpans() Option {
	return func(o *options) { o.telemetry.StatementSpans = true }
}

// WithoutTelemetry leaves out the backend's instrumentation altogether: no
// span, no metric, no callback registered with any provider, so a call costs
// what it costs without instrumentation. WithTracerProvider,
// WithMeterProvider and WithStatementSpans are then ignored. Logging
// (WithLogger) is unaffected.
func WithoutTelemetry() Option {
	return func(o *options) { o.telemetry.Off = true }
}

// WithReadReplicas lets the backend serve some reads from read replicas of
// its database: streaming replicas of a Postgres primary, opened with the
// same package's Open (postgres.Open(replicaDSN)). The database must be one
// whose dialect.Dialect declares Replication (of this module's packages, postgres);
// Open refuses replicas of any other with ErrInvalidArgument, as it refuses
// a nil dialector or a replica of another kind of database.
//
// Writes, and every read that must see the state as of now, go to the
// primary. These reads may go to a replica:
//
//   - HistoryInTimeRange and InvocationIDsInTimeRange, page by page;
//   - DiscoverAppInfos;
//   - WorkflowTypes, WorkflowRuns and WorkflowRunsOfType.
//
// The point reads (Invocation, Invocations, History, Result, Exception,
// AppInfo, WorkflowData, runner contexts, ...) always read the primary.
//
// A replica serves a read only while the backend knows that
//
//   - it answered its last check and no read has failed on it since;
//   - it had replayed every transaction committed on the primary more than
//     ReplicaSettings.MaxLag (default 5 s) before the read: a read from a
//     replica may miss other processes' writes of the last MaxLag, never
//     older ones;
//   - it had replayed every write this backend (or any backend sharing its
//     ReplicaSettings.Clock) made before the read: a backend reads its own
//     writes.
//
// Otherwise the read goes to the primary. A read that fails on a replica is
// run again on the primary in the same call, so a replica that is down,
// lagging or being restarted costs latency, never an error. With several
// replicas, reads are spread over those that qualify in turn.
//
// The backend learns this by checking, every ReplicaSettings.CheckInterval
// (default 1 s) while it is open, the primary's and each replica's
// replication position: one small query on each server, run by a goroutine
// that Close stops. Store.Replicas reports what it found, lag included; the
// backend's logger (WithLogger) gets a line whenever a replica stops or
// starts serving reads.
//
// A time-range iteration reads each page from a server that has every
// record the previous page's server had when that page was read: the same
// replica while it qualifies, the primary, or another replica known to
// have replayed everything committed before the previous page was read. So
// an iteration that moves from a replica to the primary, or starts on the
// primary and moves to a caught-up replica, never skips or repeats a record
// that existed on its first page's server when the iteration began.
//
// Replicas get the primary's connection pool settings (Dialect.Pool,
// WithPool). A replica that cannot be reached at Open is no error: it
// serves reads once it answers a check.
func WithReadReplicas(replicas ...gorm.Dialector) Option {
	return func(o *options) { o.replicas = append(o.replicas, replicas...) }
}

// WithReplicaSettings tunes WithReadReplicas. Zero fields keep their
// defaults.
func WithReplicaSettings(s ReplicaSettings) Option {
	return func(o *options) { o.replicaSettings = s }
}

// ReplicaSettings tune how a backend reads from its read replicas (see
// WithReadReplicas).
type ReplicaSettings struct {
	// MaxLag bounds how stale a read from a replica may be: the replica
	// must have replayed everything committed on the primary more than
	// MaxLag before the read. Default 5 s.
	MaxLag time.Duration
	// CheckInterval is how often the backend reads the replication
	// positions of the primary and of each replica. It must not exceed half
	// of MaxLag, so that a healthy replica stays within MaxLag between two
	// checks. Default MaxLag/5, at most 1 s. A shorter interval sends the
	// reads that follow a write to a replica sooner, at one query per server
	// per interval.
	CheckInterval time.Duration
	// Clock, when set, is shared by backends of this process that must read
	// each other's writes: each then routes a read to a replica only once
	// the replica has replayed every write that any backend sharing the
	// clock made before the read. Nil: the backend has a clock of its own,
	// and reads its own writes.
	Clock *WriteClock
}

// internal returns s for the replicas package.
func (s ReplicaSettings) internal() replicas.Settings {
	out := replicas.Settings{MaxLag: s.MaxLag, CheckInterval: s.CheckInterval}
	if s.Clock != nil {
		out.Clock = s.Clock.clock
	}
	return out
}

// WriteClock records when the writes of the backends sharing it returned
// (see ReplicaSettings.Clock). It is safe for concurrent use.
type WriteClock struct{ clock *replicas.Clock }

// NewWriteClock returns a clock for backends that read each other's writes.
func NewWriteClock() *WriteClock { return &WriteClock{clock: replicas.NewClock()} }

// poolOf returns the pool of a database of dialect dl: its default, with
// the fields WithPool sets.
func (o options) poolOf(dl dialect.Dialect) Pool {
	if !o.poolSet {
		return dl.Pool
	}
	return dl.Pool.With(o.pool)
}

// DefaultRetentionInterval is the time between two background prunes when
// Retention.Interval is 0.
const DefaultRetentionInterval = 10 * time.Minute

// Retention configures the background pruner (see WithRetention).
type Retention struct {
	// OlderThan is how long finished work is kept (see PruneOptions).
	// 0, the default, turns the background pruner off.
	OlderThan time.Duration
	// Interval is the time between two prunes, each wait drawn at random
	// within 20 % of it so that processes started together spread out;
	// 0 means DefaultRetentionInterval.
	Interval time.Duration
	// BatchSize and BatchTimeout are those of PruneOptions.
	BatchSize    int
	BatchTimeout time.Duration
	// Report, when set, is called after each prune this process ran (not
	// when another process held the lock), from the pruner's goroutine.
	Report func(PruneReport)
}

// PruneReport is what one background prune did.
type PruneReport struct {
	// Started and Finished bound the prune, while this process held the
	// database's pruning lock.
	Started, Finished time.Time
	// Stats is what it deleted.
	Stats PruneStats
	// Err is why it stopped early, or nil.
	Err error
}

// WithRetention starts a background pruner with Open: every r.Interval it
// deletes the finished work older than r.OlderThan (see Pruner), in
// batches, and logs what it deleted. Of all the processes that use one
// database (and app), one prunes at a time: the pruner runs only while it
// holds the database's pruning lock (dialect.Dialect.TryLock: an advisory lock on
// Postgres and MySQL, a lease row on SQLite), and a process that finds it
// taken waits for its next turn. Each run is one Prune, which deletes what
// was prunable when the run started and leaves records written during it
// to the next run, so a run ends (and lets the lock go) however fast old
// records arrive. It stops when the backend is closed. A
// zero r (OlderThan 0) leaves it off; negative durations or batch size
// make Open fail with ErrInvalidArgument.
func WithRetention(r Retention) Option {
	return func(o *options) { o.retention = r }
}

// validate reports invalid settings, naming the field.
func (r Retention) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"OlderThan", r.OlderThan}, {"Interval", r.Interval}, {"BatchTimeout", r.BatchTimeout}} {
		if d.v < 0 {
			return state.Invalid("Retention."+d.name, fmt.Sprintf("must not be negative, got %v", d.v))
		}
	}
	if r.BatchSize < 0 {
		return state.Invalid("Retention.BatchSize", fmt.Sprintf("must not be negative, got %d", r.BatchSize))
	}
	return nil
}

// report returns r.Report as the background pruner reports, nil when r
// has none.
func (r Retention) report() func(retention.Report) {
	if r.Report == nil {
		return nil
	}
	return func(rep retention.Report) {
		r.Report(PruneReport{Started: rep.Started, Finished: rep.Finished, Stats: rep.Stats, Err: rep.Err})
	}
}
