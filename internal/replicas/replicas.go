// Package replicas routes a store's reads among read replicas of its
// database (streaming replicas of a Postgres primary) and knows how far
// behind each one is, without trusting any server's clock. It owns the
// replicas' pools, the periodic checks of their replication positions
// (dialect.Replication) and the write clock that lets a store read its own
// writes; the store decides which reads may go to a replica and runs them
// through Set.Read.
package replicas

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// Settings tune how a store reads from its replicas; the store's
// ReplicaSettings, with the defaults filled by Check.
type Settings struct {
	MaxLag        time.Duration
	CheckInterval time.Duration
	// Clock is shared by stores that read each other's writes; nil gives
	// the set a clock of its own.
	Clock *Clock
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

// Clock records when the writes of the stores sharing it returned. It is
// safe for concurrent use.
type Clock struct {
	epoch time.Time    // read with its monotonic clock
	last  atomic.Int64 // nanoseconds since epoch at which the last write returned
}

// NewClock returns a clock for stores that read each other's writes.
func NewClock() *Clock { return &Clock{epoch: time.Now()} }

// now returns the time since the clock's epoch, on the monotonic clock.
func (c *Clock) now() int64 { return int64(time.Since(c.epoch)) }

// wrote records that a write has returned: every transaction it committed
// lies before the time recorded.
func (c *Clock) wrote() {
	now := c.now()
	for {
		last := c.last.Load()
		if last >= now || c.last.CompareAndSwap(last, now) {
			return
		}
	}
}

// wall converts a time since the epoch to a time.Time.
func (c *Clock) wall(t int64) time.Time { return c.epoch.Add(time.Duration(t)) }

// Status is what a store knows of one of its replicas; the store's
// ReplicaStatus documents each field.
type Status struct {
	Replica   int
	Serving   bool
	Err       error
	CheckedAt time.Time
	Lag       time.Duration
	Behind    int64
	Reads     int64
}

// resolverName names the backend's replicas in dbresolver. It can match no
// table name (it has a colon), so dbresolver's callbacks, which GORM runs on
// the backend's own queries (migrations, maintenance), leave them on the
// primary: only readReplica routes a read.
const resolverName = "statebackend:replicas"

// Check checks replicas for a primary of dialect dl, before anything
// opens, and returns settings with the defaults filled.
func Check(dl dialect.Dialect, replicas []gorm.Dialector, settings Settings) (Settings, error) {
	repl := dl.Replication
	if repl.PrimaryPosition == nil || repl.ReplicaPosition == nil {
		return Settings{}, state.Invalid("replicas", fmt.Sprintf("the %s database cannot serve reads from replicas (its Dialect declares no Replication)", dl.Name))
	}
	if dl.PrepareStatements {
		// The backend's prepared statements belong to the primary's pool:
		// reads through them could not be routed to a replica.
		return Settings{}, state.Invalid("replicas", fmt.Sprintf("the %s database prepares its statements (Dialect.PrepareStatements), which replicas do not support", dl.Name))
	}
	for i, d := range replicas {
		field := fmt.Sprintf("replicas[%d]", i)
		if d == nil {
			return Settings{}, state.Invalid(field, "nil dialector")
		}
		if name := dialect.Of(d).Name; name != dl.Name {
			return Settings{}, state.Invalid(field, fmt.Sprintf("a %s replica of a %s primary", name, dl.Name))
		}
	}
	return settings.withDefaults()
}

// Primary is the primary database the replicas follow.
type Primary struct {
	// DB is the primary's GORM handle; the replicas' pools are opened with
	// its configuration.
	DB *gorm.DB
	// SQL is its pool, where the primary's position is read.
	SQL     *sql.DB
	Dialect dialect.Dialect
	// Pool is the pool the replicas get: the primary's.
	Pool dialect.Pool
	Log  *slog.Logger
}

// Open opens replicas, checked by Check with settings, for primary p and
// checks them once; the set then checks them every CheckInterval until
// Close. On error it leaves nothing open.
func Open(p Primary, replicas []gorm.Dialector, settings Settings) (*Set, error) {
	// dbresolver opens the replicas' pools with the primary's GORM
	// configuration, on a session of its own that does not ping them: a
	// replica that is down at Open serves reads once it is back.
	var opened []*sql.DB
	dialectors := make([]gorm.Dialector, len(replicas))
	for i, d := range replicas {
		dialectors[i] = trackedDialector{Dialector: d, opened: &opened}
	}
	closeOpened := func() {
		for _, db := range opened {
			_ = db.Close()
		}
	}
	session := p.DB.Session(&gorm.Session{})
	session.Config.DisableAutomaticPing = true
	resolver := dbresolver.Register(dbresolver.Config{Replicas: dialectors}, resolverName)
	if err := session.Use(resolver); err != nil {
		closeOpened()
		return nil, fmt.Errorf("statebackend: open %s read replicas: %w", p.Dialect.Name, err)
	}
	if len(opened) != len(replicas) {
		closeOpened()
		return nil, fmt.Errorf("statebackend: open %s read replicas: %d pools for %d replicas", p.Dialect.Name, len(opened), len(replicas))
	}

	clock := settings.Clock
	if clock == nil {
		clock = NewClock()
	}
	s := &Set{
		repl:     p.Dialect.Replication,
		primary:  p.SQL,
		settings: settings,
		clock:    clock,
		policy:   dbresolver.StrictRoundRobinPolicy(),
		log:      p.Log,
	}
	for i, db := range opened {
		p.Pool.Apply(db)
		r := &replica{index: i, db: db}
		r.covered.Store(-1)
		s.replicas = append(s.replicas, r)
	}
	// Opening is a write: the schema the store may just have created must
	// be on a replica before it serves the store.
	clock.wrote()
	s.check(context.Background(), replicaCatchUpWait)
	s.start()
	return s, nil
}

// withDefaults fills the zero fields of s and checks the others.
func (s Settings) withDefaults() (Settings, error) {
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

// Route is where the pages of one time-range iteration have been read so
// far; the zero Route has read none.
type Route struct {
	started bool
	replica *replica // the last page's replica; nil: the primary
	horizon int64    // clock time at which the last page was read
}

// Read returns fn, a read of o that a replica may serve, reading on a
// replica that qualifies, else on the primary; the store runs it as any
// read (engine.Read). rt carries the pages of a time-range iteration; nil
// for a read of its own. On a nil Set it returns fn.
func (s *Set) Read(o op.Op, rt *Route, fn func(db *gorm.DB) error) func(db *gorm.DB) error {
	if s == nil {
		return fn
	}
	return func(db *gorm.DB) error {
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
		s.readFailed(r, o, err)
		if rt != nil {
			rt.replica, rt.horizon = nil, s.clock.now()
		}
		return fn(db)
	}
}

// on returns db reading from r's pool instead of the primary's.
func (r *replica) on(db *gorm.DB) *gorm.DB {
	tx := db.Session(&gorm.Session{Context: db.Statement.Context})
	tx.Statement.ConnPool = r.db
	return tx
}

// pick returns the replica a read may go to, or nil for the primary, and
// records the choice in rt (when not nil).
func (s *Set) pick(rt *Route) *replica {
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
func (s *Set) serving(r *replica, now int64) bool {
	covered := r.covered.Load()
	return !r.failed.Load() && covered >= 0 && now-covered <= int64(s.settings.MaxLag)
}
