package statebackend

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/taskstate/statebackend/state"
)

// WithReadReplicas lets the backend serve some reads from read replicas of
// its database: streaming replicas of a Postgres primary, opened with the
// same package's Open (postgres.Open(replicaDSN)). The database must be one
// whose Dialect declares Replication (of this module's packages, postgres);
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
// that Close stops. CheckReplicas reports what it found, lag included; the
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

// Default replica settings.
const (
	defaultMaxReplicaLag    = 5 * time.Second
	maxReplicaCheckInterval = time.Second
	// replicaCheckTimeout bounds each query of a check: a server that hangs
	// is taken for unavailable after it, rather than holding the checks up.
	replicaCheckTimeout = 2 * time.Second
	// replicaCatchUpWait bounds how long the check at Open waits for a
	// replica to replay the position the primary had then, so that the
	// first reads (a command-line scan) can use a replica that keeps up.
	replicaCatchUpWait = 250 * time.Millisecond
)

// WriteClock records when the writes of the backends sharing it returned
// (see ReplicaSettings.Clock). It is safe for concurrent use.
type WriteClock struct {
	epoch time.Time    // read with its monotonic clock
	last  atomic.Int64 // nanoseconds since epoch at which the last write returned
}

// NewWriteClock returns a clock for backends that read each other's writes.
func NewWriteClock() *WriteClock { return &WriteClock{epoch: time.Now()} }

// now returns the time since the clock's epoch, on the monotonic clock.
func (c *WriteClock) now() int64 { return int64(time.Since(c.epoch)) }

// wrote records that a write has returned: every transaction it committed
// lies before the time recorded.
func (c *WriteClock) wrote() {
	now := c.now()
	for {
		last := c.last.Load()
		if last >= now || c.last.CompareAndSwap(last, now) {
			return
		}
	}
}

// wall converts a time since the epoch to a time.Time.
func (c *WriteClock) wall(t int64) time.Time { return c.epoch.Add(time.Duration(t)) }

// Replication reads replication positions: what a database declares (in
// Dialect.Replication) to let Open serve reads from its read replicas. A
// position is an int64 that grows with every transaction committed on the
// primary (for Postgres, the byte offset in the write-ahead log).
type Replication struct {
	// PrimaryPosition returns the current position of db, the primary: at
	// least the position of every transaction that committed before the
	// call.
	PrimaryPosition func(ctx context.Context, db *sql.DB) (int64, error)
	// ReplicaPosition returns the position db, a replica, has replayed up
	// to: every transaction committed at or before it is visible to its
	// queries. It fails when db is not a replica (a promoted one, say).
	ReplicaPosition func(ctx context.Context, db *sql.DB) (int64, error)
}

// ReplicaStatus is what a backend knows of one of its read replicas.
type ReplicaStatus struct {
	// Replica is the replica's index in the WithReadReplicas arguments.
	Replica int
	// Serving reports whether the replica may serve reads now: it answered
	// its last check, no read failed on it since, and it is within MaxLag.
	// A read may still go to the primary so that the caller reads its own
	// writes.
	Serving bool
	// Err is why the last check of the replica, or the last read on it,
	// failed; nil when it answered.
	Err error
	// CheckedAt is when the backend last read the replica's position; zero
	// before the first check.
	CheckedAt time.Time
	// Lag bounds how far behind the primary the replica was at CheckedAt:
	// it had replayed every transaction committed on the primary more than
	// Lag before. When the backend has not seen the replica reach any
	// position the primary had in the last 2*MaxLag, Lag is how long it has
	// seen the replica behind, a lower bound, and Serving is false.
	Lag time.Duration
	// Behind is how far the replica's position was behind the primary's at
	// CheckedAt, in the database's unit (bytes of write-ahead log on
	// Postgres); 0 when it had replayed everything.
	Behind int64
	// Reads is how many reads the replica has served.
	Reads int64
}

// CheckReplicas checks b's read replicas now and returns their status, in
// the order given to WithReadReplicas; nil when b has none. It fails with
// ErrClosed after Close, with the context's error when ctx ends, and with
// ErrInvalidArgument when b is not a backend Open returned. A replica that
// does not answer is no error: its status says so.
func CheckReplicas(ctx context.Context, b Backend) ([]ReplicaStatus, error) {
	gb, ok := b.(*gormBackend)
	if !ok {
		return nil, state.Invalid("b", fmt.Sprintf("%T is not a backend statebackend.Open returned", b))
	}
	if err := gb.check(ctx); err != nil {
		return nil, err
	}
	if gb.replicas == nil {
		return nil, nil
	}
	gb.replicas.check(ctx, 0)
	if err := gb.check(ctx); err != nil {
		return nil, err
	}
	return gb.replicas.statuses(), nil
}

// resolverName names the backend's replicas in dbresolver. It can match no
// table name (it has a colon), so dbresolver's callbacks, which GORM runs on
// the backend's own queries (migrations, maintenance), leave them on the
// primary: only readReplica routes a read.
const resolverName = "statebackend:replicas"

// replicaSettingsOf checks the replicas of o for a primary of dialect dl, and
// returns their settings with the defaults filled; before anything opens.
// Without replicas there is nothing to check.
func replicaSettingsOf(dl Dialect, o options) (ReplicaSettings, error) {
	if len(o.replicas) == 0 {
		return ReplicaSettings{}, nil
	}
	repl := dl.Replication
	if repl.PrimaryPosition == nil || repl.ReplicaPosition == nil {
		return ReplicaSettings{}, state.Invalid("replicas", fmt.Sprintf("the %s database cannot serve reads from replicas (its Dialect declares no Replication)", dl.Name))
	}
	if dl.PrepareStatements {
		// The backend's prepared statements belong to the primary's pool:
		// reads through them could not be routed to a replica.
		return ReplicaSettings{}, state.Invalid("replicas", fmt.Sprintf("the %s database prepares its statements (Dialect.PrepareStatements), which replicas do not support", dl.Name))
	}
	for i, d := range o.replicas {
		field := fmt.Sprintf("replicas[%d]", i)
		if d == nil {
			return ReplicaSettings{}, state.Invalid(field, "nil dialector")
		}
		if name := dialectOf(d).Name; name != dl.Name {
			return ReplicaSettings{}, state.Invalid(field, fmt.Sprintf("a %s replica of a %s primary", name, dl.Name))
		}
	}
	return o.replicaSettings.withDefaults()
}

// openReplicas opens the replicas of o, with settings (see replicaSettingsOf),
// on b's primary and checks them once. On error it leaves nothing open.
func openReplicas(b *gormBackend, o options, settings ReplicaSettings) (*replicaSet, error) {
	// dbresolver opens the replicas' pools with the primary's GORM
	// configuration, on a session of its own that does not ping them: a
	// replica that is down at Open serves reads once it is back.
	var opened []*sql.DB
	dialectors := make([]gorm.Dialector, len(o.replicas))
	for i, d := range o.replicas {
		dialectors[i] = trackedDialector{Dialector: d, opened: &opened}
	}
	closeOpened := func() {
		for _, db := range opened {
			_ = db.Close()
		}
	}
	session := b.db.Session(&gorm.Session{})
	session.Config.DisableAutomaticPing = true
	resolver := dbresolver.Register(dbresolver.Config{Replicas: dialectors}, resolverName)
	if err := session.Use(resolver); err != nil {
		closeOpened()
		return nil, fmt.Errorf("statebackend: open %s read replicas: %w", b.dialect.Name, err)
	}
	if len(opened) != len(o.replicas) {
		closeOpened()
		return nil, fmt.Errorf("statebackend: open %s read replicas: %d pools for %d replicas", b.dialect.Name, len(opened), len(o.replicas))
	}

	clock := settings.Clock
	if clock == nil {
		clock = NewWriteClock()
	}
	s := &replicaSet{
		repl:     b.dialect.Replication,
		primary:  b.sqlDB,
		settings: settings,
		clock:    clock,
		policy:   dbresolver.StrictRoundRobinPolicy(),
		log:      b.log,
	}
	for i, db := range opened {
		applyPool(db, b.dialect.Pool)
		if o.poolSet {
			applyPool(db, o.pool)
		}
		r := &replica{index: i, db: db}
		r.covered.Store(-1)
		s.replicas = append(s.replicas, r)
	}
	// Opening is a write: the schema the backend may just have created must
	// be on a replica before it serves the backend.
	clock.wrote()
	s.check(context.Background(), replicaCatchUpWait)
	s.start()
	return s, nil
}

// withDefaults fills the zero fields of s and checks the others.
func (s ReplicaSettings) withDefaults() (ReplicaSettings, error) {
	if s.MaxLag < 0 {
		return s, state.Invalid("ReplicaSettings.MaxLag", "negative")
	}
	if s.CheckInterval < 0 {
		return s, state.Invalid("ReplicaSettings.CheckInterval", "negative")
	}
	if s.MaxLag == 0 {
		s.MaxLag = defaultMaxReplicaLag
	}
	if s.CheckInterval == 0 {
		s.CheckInterval = min(s.MaxLag/5, maxReplicaCheckInterval)
	}
	if s.CheckInterval > s.MaxLag/2 {
		return s, state.Invalid("ReplicaSettings.CheckInterval",
			fmt.Sprintf("%v is more than half of MaxLag (%v)", s.CheckInterval, s.MaxLag))
	}
	return s, nil
}

// trackedDialector records the pool its dialector opens, so that Open can
// set the pools up, and close them when a later replica fails to open.
type trackedDialector struct {
	gorm.Dialector
	opened *[]*sql.DB
}

// Initialize implements gorm.Dialector.
func (d trackedDialector) Initialize(db *gorm.DB) error {
	if err := d.Dialector.Initialize(db); err != nil {
		return err // gorm.Open closes what it opened
	}
	sqlDB, ok := db.ConnPool.(*sql.DB)
	if !ok {
		return fmt.Errorf("the %s dialector's pool is a %T, not a *sql.DB", d.Name(), db.ConnPool)
	}
	*d.opened = append(*d.opened, sqlDB)
	return nil
}

// route is where the pages of one time-range iteration have been read so
// far; the zero route has read none.
type route struct {
	started bool
	replica *replica // the last page's replica; nil: the primary
	horizon int64    // clock time at which the last page was read
}

// readReplica runs fn, a read that a replica may serve (see
// WithReadReplicas), as read does: on a replica that qualifies, else on the
// primary. rt carries the pages of a time-range iteration; nil for a read
// of its own.
func (b *gormBackend) readReplica(ctx context.Context, op string, rt *route, fn func(db *gorm.DB) error) error {
	s := b.replicas
	if s == nil {
		return b.read(ctx, op, fn)
	}
	return b.read(ctx, op, func(db *gorm.DB) error {
		r := s.pick(rt)
		if r == nil {
			return fn(db)
		}
		err := fn(r.on(db))
		if err == nil {
			r.reads.Add(1)
			return nil
		}
		if db.Statement.Context.Err() != nil {
			return err
		}
		s.readFailed(r, op, err)
		if rt != nil {
			rt.replica, rt.horizon = nil, s.clock.now()
		}
		return fn(db)
	})
}

// on returns db reading from r's pool instead of the primary's.
func (r *replica) on(db *gorm.DB) *gorm.DB {
	tx := db.Session(&gorm.Session{Context: db.Statement.Context})
	tx.Statement.ConnPool = r.db
	return tx
}

// pick returns the replica a read may go to, or nil for the primary, and
// records the choice in rt (when not nil).
func (s *replicaSet) pick(rt *route) *replica {
	now := s.clock.now()
	// need is the clock time the replica must have replayed through.
	need := s.clock.last.Load()
	if rt != nil && rt.started {
		if rt.replica != nil && s.serving(rt.replica, now) {
			rt.horizon = now
			return rt.replica
		}
		need = rt.horizon
	}
	var r *replica
	eligible := make([]gorm.ConnPool, 0, len(s.replicas))
	for _, c := range s.replicas {
		if s.serving(c, now) && c.covered.Load() >= need {
			eligible = append(eligible, c.db)
		}
	}
	if len(eligible) > 0 {
		chosen := s.policy.Resolve(eligible)
		for _, c := range s.replicas {
			if c.db == chosen {
				r = c
			}
		}
	}
	if rt != nil {
		rt.started, rt.replica, rt.horizon = true, r, now
	}
	return r
}

// serving reports whether r may serve a read at clock time now: it
// answered its last check, no read has failed on it since, and it is
// within MaxLag.
func (s *replicaSet) serving(r *replica, now int64) bool {
	covered := r.covered.Load()
	return !r.failed.Load() && covered >= 0 && now-covered <= int64(s.settings.MaxLag)
}
