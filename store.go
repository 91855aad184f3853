package statebackend

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/engine"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/internal/replicas"
	"github.com/taskstate/statebackend/internal/retention"
	"github.com/taskstate/statebackend/internal/telemetry"
	"github.com/taskstate/statebackend/internal/wake"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// Store is the GORM implementation of the state backend: the contract of
// state.Backend (re-exported as Backend), plus the optional capabilities
// of this implementation (Prune, ImportHistory, Replicas). Open returns
// one; it is safe for concurrent use by many goroutines.
type Store struct {
	eng      *engine.Engine
	sqlDB    *sql.DB
	repo     repository.Repo
	tel      *telemetry.Telemetry
	log      *slog.Logger
	replicas *replicas.Set // nil without read replicas
	pruner   *retention.Pruner
	// stopPruner stops the background pruner and waits for it; nil when
	// there is none.
	stopPruner func()
	// commits says how the database's transactions commit, which the
	// change feed follows; dialectName names the database in errors.
	commits     dialect.Commits
	dialectName string
	// listen subscribes to the changes' notifications, nil where watches
	// poll (see dialect.Dialect.Listen).
	listen func(ctx context.Context, db *sql.DB, channel string) (dialect.Listener, error)
	// notifier signals the changes' channel after writes (nil where the
	// dialect cannot, or the store is read-only).
	notifier *wake.Runner
}

// The Store implements the contract and every optional interface of
// package state.
var (
	_ state.Backend         = (*Store)(nil)
	_ state.Pruner          = (*Store)(nil)
	_ state.HistoryImporter = (*Store)(nil)
)

// notifyTimeout bounds one signal to watches after writes; notifyInterval
// is the least time between two.
const (
	notifyTimeout  = 5 * time.Second
	notifyInterval = 5 * time.Millisecond
)

// openMigrateTimeout bounds how long Open waits for the migration lock and
// migrates: Open takes no context, and another process may hold the lock
// while it builds an index on a large table.
const openMigrateTimeout = 10 * time.Minute

// Open returns the store on the database d, most often sqlite.Open(path),
// postgres.Open(dsn) or mysql.Open(dsn) from this module's database
// packages. Any other gorm.Dialector is accepted, with the settings it
// declares if it implements dialect.Database and conservative defaults
// otherwise (see dialect.Dialect).
//
// Open brings the app's schema to the library's version (see
// migrations.Migrator): it creates the tables of a new app, records
// version 1 for a database that v0.1.0 created, and applies the migrations
// a database lacks, under a lock, so that processes opening one old
// database at once migrate it once. A database whose schema is current
// costs a few catalog reads and takes no lock. Open fails with
// migrations.ErrSchemaMismatch for tables it does not recognize and with
// migrations.ErrSchemaNewer for a database a newer, incompatible library
// migrated; WithoutAutoMigrate makes it check the version only. A
// read-only database (WithReadOnly, or see dialect.Dialect.ReadOnly) is
// checked, never migrated.
//
// Close the store when done: Close waits for the writes in flight to
// settle, fails those still queued with ErrClosed, stops the background
// pruner, and leaves no goroutine behind.
func Open(d gorm.Dialector, opts ...Option) (*Store, error) {
	o := newOptions(opts)
	if err := o.retention.validate(); err != nil {
		return nil, err
	}
	c, err := connect(d, o)
	if err != nil {
		return nil, err
	}
	s, err := c.open(o)
	if err != nil {
		_ = c.sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// connection is an open database with what the store knows about it.
type connection struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect dialect.Dialect
	tables  entities.Tables
	appID   string
	log     *slog.Logger
	// replicaSettings are the read replicas' settings, checked before
	// connecting.
	replicaSettings replicas.Settings
}

// connect opens d for the app of o, with the dialect's settings and pool.
func connect(d gorm.Dialector, o options) (*connection, error) {
	if o.appID != "" {
		if err := state.ValidateKey("app id", o.appID); err != nil {
			return nil, err
		}
	}
	if rd, ok := d.(dialect.ReadOnlyDatabase); ok && o.readOnly {
		d = rd.ReadOnly()
	}
	if ld, ok := d.(dialect.LoggingDatabase); ok {
		d = ld.WithLogger(o.logger)
	}
	dl := dialect.Of(d)
	if o.readOnly {
		dl.ReadOnly = true
	}
	var replicaSettings replicas.Settings
	if len(o.replicas) > 0 {
		var err error
		if replicaSettings, err = replicas.Check(dl, o.replicas, o.replicaSettings.internal()); err != nil {
			return nil, err
		}
	}
	tables, err := entities.NewTables(o.appID, dl.MaxIdentifierLength)
	if err != nil {
		return nil, state.Invalid("app id", err.Error())
	}
	log := o.logger.With("database", dl.Name, "app_id", o.appID)
	db, err := engine.OpenGorm(d, dl, log, func() *gorm.Config {
		return &gorm.Config{
			NamingStrategy:         tables.Namer(dl.MaxIdentifierLength),
			SkipDefaultTransaction: true,
			TranslateError:         true,
			NowFunc:                func() time.Time { return time.Now().UTC() },
			Logger:                 logger.Discard,
		}
	})
	if err != nil {
		return nil, fmt.Errorf("statebackend: open %s database: %w", dl.Name, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("statebackend: open %s database: %w", dl.Name, err)
	}
	o.poolOf(dl).Apply(sqlDB)
	if sqlDB.Stats().MaxOpenConnections == 1 {
		// The store prepares a statement on the pool the first time it
		// runs it, which takes a connection: inside a transaction holding
		// the only one, that would wait forever. Run statements as text.
		dl.PrepareStatements = false
	}
	// Connected, a dialector may know its database better (MySQL's tells
	// MariaDB apart).
	dl.Name = dialect.Of(d).Name
	return &connection{
		db: db, sqlDB: sqlDB, dialect: dl, tables: tables, appID: o.appID,
		log: o.logger.With("database", dl.Name, "app_id", o.appID), replicaSettings: replicaSettings,
	}, nil
}

// open builds the store on c: its schema checked or migrated, its
// subsystems started.
func (c *connection) open(o options) (*Store, error) {
	if err := c.schema(o); err != nil {
		return nil, fmt.Errorf("statebackend: open: %w", err)
	}
	tel := telemetry.New(o.telemetry, telemetry.Info{
		System: c.dialect.Name, Namespace: c.dialect.Namespace, AppID: c.appID, Table: c.tables.Name,
	})
	s := &Store{
		sqlDB: c.sqlDB,
		repo: repository.New(c.tables, repository.Config{
			Prepare:                   c.dialect.PrepareStatements,
			PrepareRefused:            c.dialect.PrepareRefused,
			DB:                        c.sqlDB,
			UnindexedHistoryTimestamp: c.dialect.Hints.UnindexedHistoryTimestamp,
			FinalPredicate:            migrations.FinalIndexPredicate,
			Observe:                   tel.Observer(),
		}),
		tel:         tel,
		log:         c.log,
		commits:     c.dialect.Commits,
		dialectName: c.dialect.Name,
		listen:      c.dialect.Listen,
	}
	if len(o.replicas) > 0 {
		rs, err := replicas.Open(replicas.Primary{
			DB: c.db, SQL: c.sqlDB, Dialect: c.dialect, Pool: o.poolOf(c.dialect), Log: c.log,
		}, o.replicas, c.replicaSettings)
		if err != nil {
			s.repo.Close()
			return nil, err
		}
		s.replicas = rs
	}
	s.eng = engine.New(engine.Config{
		DB: c.db, Dialect: c.dialect, Log: c.log, Telemetry: tel,
		InsertHistory: s.repo.AddHistory, Wrote: func() { s.replicas.Wrote(); s.notifier.Signal() },
		Tables: c.tables.DataNames(),
	})
	if notify := c.dialect.Notify; notify != nil && !c.dialect.ReadOnly {
		channel, log := c.tables.Name("Change"), c.log
		s.notifier = wake.Start(func(ctx context.Context) {
			start := time.Now()
			nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
			err := notify(nctx, c.db, channel)
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Debug("signalling watches of changes", "error", err)
			}
			// At most one signal per notifyInterval: writes that commit
			// meanwhile are told by the next.
			_ = sleep(ctx, notifyInterval-time.Since(start))
		})
	}
	s.pruner = retention.New(retention.Config{Engine: s.eng, Repo: s.repo, TryLock: c.dialect.TryLock, Log: c.log})
	tel.Watch(c.db, c.sqlDB)
	if r := o.retention; r.OlderThan > 0 {
		s.stopPruner = s.pruner.Start(retention.Schedule{
			Interval: cmp.Or(r.Interval, DefaultRetentionInterval),
			Options:  PruneOptions{OlderThan: r.OlderThan, BatchSize: r.BatchSize, BatchTimeout: r.BatchTimeout},
			Name:     "statebackend/prune/" + cmp.Or(c.tables.Prefix(), "default"),
		}, s.Prune, r.report())
	}
	return s, nil
}

// schema checks the app's schema, or brings it to the library's version
// (see Open).
func (c *connection) schema(o options) error {
	m, err := migrations.NewMigrator(c.db, migrations.Config{AppID: c.appID, Logger: o.logger})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), openMigrateTimeout)
	defer cancel()
	switch {
	case c.dialect.ReadOnly:
		return m.CheckReadable(ctx)
	case o.noAutoMigrate:
		return m.Check(ctx)
	}
	return m.Ensure(ctx)
}

// call is one call of a Store method: its context (carrying its span),
// its operation, and its telemetry. Each method starts one with begin,
// ends it with end, and runs its database work through it, so that the
// operation is named once per method.
type call struct {
	s   *Store
	ctx context.Context
	op  op.Op
	tel telemetry.Call
}

// begin starts a call of o.
//
//	c := s.begin(ctx, op.Result)
//	defer c.end(&err)
func (s *Store) begin(ctx context.Context, o op.Op) call {
	ctx, tc := s.tel.Start(ctx, o)
	return call{s: s, ctx: ctx, op: o, tel: tc}
}

// end ends the call with the error *errp.
func (c call) end(errp *error) { c.tel.End(errp) }

// check fails fast on a closed store or a done context.
func (c call) check() error { return c.s.eng.Check(c.ctx) }

// read runs fn, a read on the primary, retrying transient errors.
func (c call) read(fn engine.Func) error { return c.s.eng.Read(c.ctx, c.op, fn) }

// readReplica runs fn, a read that a read replica may serve (see
// WithReadReplicas); rt carries the pages of a time-range iteration, nil
// for a read of its own.
func (c call) readReplica(rt *replicas.Route, fn engine.Func) error {
	return c.s.eng.Read(c.ctx, c.op, c.s.replicas.Read(c.op, rt, fn))
}

// write runs fn, a write, retrying transient errors; fn must be safe to
// run again.
func (c call) write(fn engine.Func) error { return c.s.eng.Write(c.ctx, c.op, fn) }

// writeHistory runs fn, a write that inserts the history rows rows and
// nothing else (see engine.Engine.WriteHistory).
func (c call) writeHistory(fn engine.Func, rows []entities.History) error {
	return c.s.eng.WriteHistory(c.ctx, c.op, fn, rows)
}

// Close implements Backend: it waits for the writes in flight to settle,
// fails those still queued with ErrClosed, stops the background pruner and
// the replicas' checks, and closes the database. Closing twice is not an
// error.
func (s *Store) Close() error {
	if !s.eng.Close() {
		return nil
	}
	if s.stopPruner != nil {
		s.stopPruner()
	}
	s.notifier.Stop()
	s.tel.Close()
	replicasErr := s.replicas.Close()
	s.repo.Close()
	if err := errors.Join(s.sqlDB.Close(), replicasErr); err != nil {
		return fmt.Errorf("statebackend: close: %w", err)
	}
	return nil
}
