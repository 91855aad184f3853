package statebackend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// Open returns the GORM implementation of Backend on the database d, most
// often sqlite.Open(path), postgres.Open(dsn) or mysql.Open(dsn) from this
// module's database packages. Any other gorm.Dialector is accepted, with the
// settings it declares if it implements Database and conservative defaults
// otherwise (see Dialect).
//
// Unless WithoutMigrations is given, Open creates the app's tables and
// indexes when they are missing; it never alters or drops existing ones.
// Close the backend when done.
func Open(d gorm.Dialector, opts ...Option) (Backend, error) {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	if o.appID != "" {
		if err := state.ValidateKey("app id", o.appID); err != nil {
			return nil, err
		}
	}
	dl := dialectOf(d)
	replicaSettings, err := replicaSettingsOf(dl, o)
	if err != nil {
		return nil, err
	}
	tables, err := entities.NewTables(o.appID, dl.MaxIdentifierLength)
	if err != nil {
		return nil, state.Invalid("app id", err.Error())
	}
	db, err := openGorm(d, dl, o.logger, func() *gorm.Config {
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
	b := &gormBackend{
		db:      db,
		sqlDB:   sqlDB,
		dialect: dl,
		repo: repository.New(tables, repository.Config{
			Prepare:                   dl.PrepareStatements,
			DB:                        sqlDB,
			UnindexedHistoryTimestamp: dl.Hints.UnindexedHistoryTimestamp,
		}),
		log: o.logger.With("dialect", dl.Name, "app_id", o.appID),
	}
	if dl.SingleWriter {
		b.committer = &committer{b: b}
	}
	if !o.skipMigrations {
		if err := b.migrate(); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
	}
	if len(o.replicas) > 0 {
		if b.replicas, err = openReplicas(b, o, replicaSettings); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
	}
	return b, nil
}

// openGorm runs gorm.Open, retrying transient errors: processes opening one
// new SQLite file at once contend to switch it to WAL, and SQLite reports
// the loser's SQLITE_BUSY at once, without waiting for the busy timeout.
func openGorm(d gorm.Dialector, dl Dialect, log *slog.Logger, config func() *gorm.Config) (*gorm.DB, error) {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		db, err := gorm.Open(d, config()) // closes what it opened when it fails
		if err == nil || attempt >= maxAttempts || dl.Transient(err) == "" {
			return db, err
		}
		log.Warn("open failed on a transient error, retrying", "attempt", attempt, "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, time.Second)
	}
}

// gormBackend is the Backend Open returns.
type gormBackend struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	repo    repository.Repo
	log     *slog.Logger
	// committer, when the dialect wants one writer per process, serializes
	// writes and commits those that arrive together at once.
	committer *committer
	// replicas, when there are read replicas, serve some reads.
	replicas *replicaSet
	closed   atomic.Bool
}

var _ Backend = (*gormBackend)(nil)

// maxAttempts bounds how often an operation is tried on transient errors.
// Certification conflicts between the nodes of a Galera cluster under heavy
// contention took up to 10 attempts (TestGaleraContention); the backoff
// between attempts doubles from 5 ms to 1 s, so the last attempt comes at
// most about 8 s after the first.
const maxAttempts = 16

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
	return b.run(ctx, op, fn)
}

// write runs a write operation, through the group committer where the
// dialect wants one, retrying transient errors. fn must be safe to run
// again: it is when a shared transaction fails.
func (b *gormBackend) write(ctx context.Context, op string, fn func(db *gorm.DB) error) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	defer b.replicas.wrote()
	if b.committer != nil {
		return b.committer.do(ctx, op, fn)
	}
	return b.run(ctx, op, fn)
}

func (b *gormBackend) run(ctx context.Context, op string, fn func(db *gorm.DB) error) error {
	db := b.db.WithContext(ctx)
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn(db)
		if err == nil {
			return nil
		}
		if attempt >= maxAttempts || b.dialect.Transient(err) == "" || ctx.Err() != nil {
			return b.fail(ctx, op, err)
		}
		b.log.Warn("retrying after transient error", "op", op, "attempt", attempt, "err", err)
		select {
		// Half the backoff plus a random part: writers that conflicted
		// retry at different times instead of conflicting again.
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, time.Second)
	}
}

// fail wraps a database error for the caller.
func (b *gormBackend) fail(ctx context.Context, op string, err error) error {
	if b.closed.Load() || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("statebackend: %s: %w", op, ErrClosed)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("statebackend: %s: %w (%v)", op, ctxErr, err)
	}
	return fmt.Errorf("statebackend: %s: %w", op, err)
}

// Close implements Backend.
func (b *gormBackend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	replicasErr := b.replicas.close()
	b.repo.Close()
	if err := errors.Join(b.sqlDB.Close(), replicasErr); err != nil {
		return fmt.Errorf("statebackend: close: %w", err)
	}
	return nil
}
