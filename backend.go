package statebackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// Open returns the GORM implementation of Backend on the database d, most
// often sqlite.Open(path), postgres.Open(dsn) or mysql.Open(dsn) from this
// module's database packages. Any other gorm.Dialector is accepted, with the
// settings it declares if it implements Database and conservative defaults
// otherwise (see Dialect).
//
// Open brings the app's schema to the library's version (see Migrator):
// it creates the tables of a new app, records version 1 for a database
// that v0.1.0 created, and applies the migrations a database lacks, under
// a lock, so that processes opening one old database at once migrate it
// once. A database whose schema is current costs a few catalog reads and
// takes no lock. Open fails with ErrSchemaMismatch for tables it does not
// recognize and with ErrSchemaNewer for a database a newer, incompatible
// library migrated; WithoutAutoMigrate makes it check the version only.
// A read-only database (WithReadOnly, or see Dialect.ReadOnly) is checked,
// never migrated.
// Close the backend when done: Close waits for the writes in flight to
// settle, fails those still queued with ErrClosed, stops the background
// pruner, and leaves no goroutine behind.
func Open(d gorm.Dialector, opts ...Option) (Backend, error) {
	o := newOptions(opts)
	if err := o.retention.validate(); err != nil {
		return nil, err
	}
	c, err := connect(d, o)
	if err != nil {
		return nil, err
	}
	tel := newTelemetry(o.telemetry, c.dialect, c.appID, c.tables)
	b := &gormBackend{
		holder:  holderID(),
		db:      c.db,
		sqlDB:   c.sqlDB,
		dialect: c.dialect,
		repo: repository.New(c.tables, repository.Config{
			Prepare:                   c.dialect.PrepareStatements,
			PrepareRefused:            c.dialect.PrepareRefused,
			DB:                        c.sqlDB,
			UnindexedHistoryTimestamp: c.dialect.Hints.UnindexedHistoryTimestamp,
			FinalPredicate:            migrations.FinalIndexPredicate,
			Observe:                   tel.observer(),
		}),
		log: c.log(o.logger),
		tel: tel,
	}
	if c.dialect.SingleWriter && !c.dialect.ReadOnly {
		b.committer = newCommitter(b)
	}
	schema := c.schema(o.logger, "Open")
	if c.dialect.ReadOnly {
		err = schema.readable()
	} else {
		err = schema.ensure(!o.noAutoMigrate)
	}
	if err != nil {
		_ = c.sqlDB.Close()
		return nil, fmt.Errorf("statebackend: open: %w", err)
	}
	if len(o.replicas) > 0 {
		if b.replicas, err = openReplicas(b, o, c.replicaSettings); err != nil {
			_ = c.sqlDB.Close()
			return nil, err
		}
	}
	tel.watch(c.db, c.sqlDB)
	b.startPruner(o.retention)
	return b, nil
}

// connection is an open database with what the backend knows about it.
type connection struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	tables  entities.Tables
	appID   string
	// replicaSettings are the read replicas' settings, checked before
	// connecting.
	replicaSettings ReplicaSettings
}

// connect opens d for the app of o, with the dialect's settings and pool.
func connect(d gorm.Dialector, o options) (*connection, error) {
	if o.appID != "" {
		if err := state.ValidateKey("app id", o.appID); err != nil {
			return nil, err
		}
	}
	if rd, ok := d.(ReadOnlyDatabase); ok && o.readOnly {
		d = rd.ReadOnly()
	}
	if ld, ok := d.(LoggingDatabase); ok {
		d = ld.WithLogger(o.logger)
	}
	dl := dialectOf(d)
	if o.readOnly {
		dl.ReadOnly = true
	}
	replicaSettings, err := replicaSettingsOf(dl, o)
	if err != nil {
		return nil, err
	}
	tables, err := entities.NewTables(o.appID, dl.MaxIdentifierLength)
	if err != nil {
		return nil, state.Invalid("app id", err.Error())
	}
	db, err := openGorm(d, dl, o.logger.With("database", dl.Name, "app_id", o.appID), func() *gorm.Config {
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
	applyPool(sqlDB, dl.Pool)
	if o.poolSet {
		applyPool(sqlDB, o.pool)
	}
	if sqlDB.Stats().MaxOpenConnections == 1 {
		// The backend prepares a statement on the pool the first time it
		// runs it, which takes a connection: inside a transaction holding
		// the only one, that would wait forever. Run statements as text.
		dl.PrepareStatements = false
	}
	// Connected, a dialector may know its database better (MySQL's tells
	// MariaDB apart).
	dl.Name = dialectOf(d).Name
	return &connection{db: db, sqlDB: sqlDB, dialect: dl, tables: tables, appID: o.appID, replicaSettings: replicaSettings}, nil
}

// log returns l with the connection's database and app.
func (c *connection) log(l *slog.Logger) *slog.Logger {
	return l.With("database", c.dialect.Name, "app_id", c.appID)
}

// schema returns the schema manager of the connection's app; its log
// records carry operation op.
func (c *connection) schema(l *slog.Logger, op string) *schemaManager {
	return &schemaManager{
		db: c.db.Set(entities.ColumnTypesSetting, c.dialect.Columns.entities()).
			Set(migrations.PartialIndexesSetting, c.dialect.PartialIndexes),
		tables:  c.tables,
		dialect: c.dialect,
		appID:   c.appID,
		log:     c.log(l).With("operation", op),
	}
}

// openGorm runs gorm.Open, retrying transient errors: processes opening one
// new SQLite file at once contend to switch it to WAL, and SQLite reports
// the loser's SQLITE_BUSY at once, without waiting for the busy timeout.
func openGorm(d gorm.Dialector, dl Dialect, log *slog.Logger, config func() *gorm.Config) (*gorm.DB, error) {
	p := newRetryPolicy()
	for {
		db, err := gorm.Open(d, config()) // closes what it opened when it fails
		if err == nil {
			return db, nil
		}
		pause, ok := p.next(dl.Transient(err), false)
		if !ok {
			return db, err
		}
		log.Debug("open failed on a transient error, retrying", "operation", "Open", "err", err)
		time.Sleep(pause)
	}
}

// gormBackend is the Backend Open returns.
type gormBackend struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	repo    repository.Repo
	log     *slog.Logger
	// tel records spans and metrics; nil with WithoutTelemetry.
	tel *telemetry
	// committer, when the dialect wants one writer per process, serializes
	// writes and commits those that arrive together at once.
	committer *committer
	closed    atomic.Bool
	// holder names this backend as the holder of leases.
	holder string
	// stopPruner stops the background pruner and waits for it; nil when
	// there is none.
	stopPruner func()
	// replicas, when there are read replicas, serve some reads.
	replicas *replicaSet
}

var _ Backend = (*gormBackend)(nil)

// check fails fast on a closed backend or a done context.
func (b *gormBackend) check(ctx context.Context) error {
	if b.closed.Load() {
		return fmt.Errorf("statebackend: %w", ErrClosed)
	}
	return ctx.Err()
}

// read runs a read operation, retrying transient errors.
func (b *gormBackend) read(ctx context.Context, op string, fn func(db *gorm.DB) error) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	return b.run(ctx, op, b.tel.counted(ctx, fn))
}

// write runs a write operation, through the group committer where the
// dialect wants one, retrying transient errors. fn must be safe to run
// again: it is when a shared transaction fails.
func (b *gormBackend) write(ctx context.Context, op string, fn func(db *gorm.DB) error) error {
	return b.writeRows(ctx, op, fn, nil)
}

// writeRows is write for a write that inserts history rows, and nothing
// else, with fn: the group committer may insert them together with other
// writes' (see committer). history is nil for other writes.
func (b *gormBackend) writeRows(ctx context.Context, op string, fn func(db *gorm.DB) error, history []entities.History) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if b.dialect.ReadOnly {
		return fmt.Errorf("statebackend: %s: %w", op, ErrReadOnly)
	}
	fn = b.tel.counted(ctx, fn)
	defer b.replicas.wrote()
	if b.committer != nil {
		return b.committer.do(ctx, op, fn, history)
	}
	return b.run(ctx, op, fn)
}

// run runs fn on db under ctx, retrying transient errors (see
// retryPolicy). It returns within ctx's deadline, give or take one
// attempt's uninterruptible part (SQLite's busy timeout).
func (b *gormBackend) run(ctx context.Context, op string, fn func(db *gorm.DB) error) error {
	db := b.db.WithContext(ctx)
	p := newRetryPolicy()
	for attempt := 1; ; attempt++ {
		err := fn(db)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || b.closed.Load() {
			return b.fail(ctx, op, err)
		}
		reason := b.dialect.Transient(err)
		_, deadline := ctx.Deadline()
		pause, ok := p.next(reason, deadline)
		if !ok {
			return b.fail(ctx, op, err)
		}
		b.retrying(ctx, op, attempt, reason, err)
		if !sleep(ctx, pause) {
			return b.fail(ctx, op, err)
		}
	}
}

// fail wraps a database error for the caller.
func (b *gormBackend) fail(ctx context.Context, op string, err error) error {
	if b.closed.Load() {
		return fmt.Errorf("statebackend: %s: %w", op, ErrClosed)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		// The database's error (a lock another process holds, a
		// connection cut short) stays in the chain for errors.As.
		return fmt.Errorf("statebackend: %s: %w (%w)", op, ctxErr, err)
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("statebackend: %s: %w", op, ErrClosed)
	}
	if b.dialect.ReadOnlyError != nil && b.dialect.ReadOnlyError(err) {
		return fmt.Errorf("statebackend: %s: %w: %w", op, ErrReadOnly, err)
	}
	return fmt.Errorf("statebackend: %s: %w", op, err)
}

// Close implements Backend.
func (b *gormBackend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.stopPruner != nil {
		b.stopPruner()
	}
	if b.committer != nil {
		b.committer.wait()
	}
	b.tel.close()
	replicasErr := b.replicas.close()
	b.repo.Close()
	if err := errors.Join(b.sqlDB.Close(), replicasErr); err != nil {
		return fmt.Errorf("statebackend: close: %w", err)
	}
	return nil
}
