package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
)

// Dialector is the gorm.Dialector of one Postgres database, with the
// backend's settings for it (it implements dialect.Database). Pass it
// to statebackend.Open.
type Dialector struct {
	*gormpg.Dialector
	// database is the name of the database the DSN connects to, "" when
	// the DSN does not parse.
	database string
	// pollOnly turns LISTEN off (see PollOnly).
	pollOnly bool
}

var _ dialect.Database = (*Dialector)(nil)

// Open returns the dialector of the Postgres database at dsn, a URL
// ("postgres://user:pass@host:5432/db?sslmode=disable") or a key=value
// string, as pgx accepts.
func Open(dsn string) *Dialector {
	d := &Dialector{Dialector: &gormpg.Dialector{Config: &gormpg.Config{DSN: dsn}}}
	// The database pgx will connect to, with the environment's defaults
	// (PGDATABASE, ...) applied as when connecting. A DSN that does not
	// parse fails at Open, with an error that never shows it.
	if cfg, err := pgconn.ParseConfig(dsn); err == nil {
		d.database = cfg.Database
	}
	return d
}

// PollOnly returns the dialector with notifications off: watches of
// changes (state.Watcher) poll the database instead of waiting on LISTEN,
// which needs a session of its own and so does not work behind a pooler in
// transaction mode (PgBouncer's pool_mode=transaction), where a LISTEN is
// accepted and its notifications never arrive. The receiver is left as it
// was.
func (d *Dialector) PollOnly() *Dialector {
	c := *d
	c.pollOnly = true
	return &c
}

// Dialect implements dialect.Database.
func (d *Dialector) Dialect() dialect.Dialect {
	return dialect.Dialect{
		Name:                "postgresql",
		Namespace:           d.database,
		MaxIdentifierLength: 63,
		Columns: dialect.ColumnTypes{
			// COLLATE "C": ids compare and sort byte for byte whatever the
			// database's default collation.
			Key:  `varchar(%d) COLLATE "C"`,
			Text: "text",
			Blob: "bytea",
		},
		Pool:           dialect.Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: time.Hour},
		Transient:      transient,
		ReadOnlyError:  readOnly,
		Lock:           lock,
		TryLock:        tryLock,
		PartialIndexes: true,
		Replication: dialect.Replication{
			PrimaryPosition: primaryPosition,
			ReplicaPosition: replicaPosition,
		},
		Commits: dialect.Commits{InFlight: inFlight, Ended: ended},
		Listen:  d.listen(),
		Notify:  notify,
	}
}

// readOnly reports a write refused by a read-only server or transaction
// (25006: a hot standby, default_transaction_read_only).
func readOnly(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "25006"
}

// primaryPosition returns how far the primary has written its write-ahead
// log, in bytes: a transaction whose COMMIT has returned lies before it
// (with synchronous_commit off, a COMMIT may return up to wal_writer_delay
// before its record is written).
func primaryPosition(ctx context.Context, db *sql.DB) (int64, error) {
	var pos int64
	err := db.QueryRowContext(ctx, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").Scan(&pos)
	return pos, err
}

// errNotReplica is the error of replicaPosition on a server that is not
// replaying a primary's log: a primary, or a replica since promoted.
var errNotReplica = errors.New("postgres: the server is not a replica (not in recovery)")

// replicaPosition returns how far a replica has replayed the primary's
// write-ahead log, in bytes.
func replicaPosition(ctx context.Context, db *sql.DB) (int64, error) {
	var pos sql.NullInt64
	err := db.QueryRowContext(ctx,
		"SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END").Scan(&pos)
	if err != nil {
		return 0, err
	}
	if !pos.Valid {
		return 0, errNotReplica
	}
	return pos.Int64, nil
}

// Initialize implements gorm.Dialector. An error never holds the DSN's
// password: see dsnError.
func (d *Dialector) Initialize(db *gorm.DB) error {
	return hideDSN(d.Dialector.Initialize(db))
}

// transient reports the errors a retry can cure.
func transient(err error) string {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Code {
	case "40001":
		return "serialization"
	case "40P01":
		return "deadlock"
	case "55P03":
		return "lock_not_available"
	}
	return ""
}

// hideDSN rewrites an error of pgx's DSN parser so that its message never
// holds the DSN's password. pgx quotes a DSN it cannot parse, masking only
// the passwords it recognizes (not the one in "password = 'x'" or
// "password='it\\'s'", for example), and its explanation may quote a piece
// of the DSN; so the message keeps pgx's explanation only, and only when it
// quotes nothing. The pgx error stays in the chain for errors.As.
func hideDSN(err error) error {
	var parse *pgconn.ParseConfigError
	if !errors.As(err, &parse) {
		return err
	}
	msg := "cannot parse the DSN"
	// pgx writes "cannot parse `<dsn>`: <problem>"; the problem comes last.
	text := parse.Error()
	if i := strings.LastIndex(text, "`: "); i >= 0 && strings.HasPrefix(text, "cannot parse `") {
		if problem := text[i+len("`: "):]; !strings.ContainsAny(problem, "\"'`") {
			msg += ": " + problem
		}
	}
	return &dsnError{msg: msg, err: err}
}

// dsnError is an error about a DSN whose message leaves the DSN out.
type dsnError struct {
	msg string
	err error
}

func (e *dsnError) Error() string { return e.msg }
func (e *dsnError) Unwrap() error { return e.err }

// inFlight returns the transactions in flight now as the bound below
// which they all lie: a transaction id taken now (txid_current), greater
// than every id assigned before it. A transaction that took a sequence
// value in a trigger had its id then (the trigger runs after the row it
// follows was written, which assigned it), so it is below the bound. (Not
// the snapshot's xmax: that is one past the newest transaction to have
// ended, and a transaction that took a newer id and is still open lies
// above it.) Each call uses up one transaction id.
func inFlight(ctx context.Context, db *gorm.DB) (dialect.InFlight, error) {
	var f dialect.InFlight
	err := db.WithContext(ctx).Raw("SELECT txid_current()").Scan(&f.Below).Error
	return f, err
}

// ended reports whether every transaction below f.Below has ended: the
// oldest transaction still running (the snapshot's xmin) is at or above
// it.
func ended(ctx context.Context, db *gorm.DB, f dialect.InFlight) (bool, error) {
	var xmin int64
	err := db.WithContext(ctx).Raw("SELECT txid_snapshot_xmin(txid_current_snapshot())").Scan(&xmin).Error
	return xmin >= f.Below, err
}

// listen returns the dialect's Listen: LISTEN on a connection of the pool
// held for the listener's lifetime; nil when the dialector polls only.
func (d *Dialector) listen() func(ctx context.Context, db *sql.DB, channel string) (dialect.Listener, error) {
	if d.pollOnly {
		return nil
	}
	return func(ctx context.Context, db *sql.DB, channel string) (dialect.Listener, error) {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		err = conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("postgres: LISTEN needs a pgx connection, not %T", dc)
			}
			_, err := c.Conn().Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
			return err
		})
		if err != nil {
			conn.Close()
			return nil, err
		}
		return &listener{conn: conn}, nil
	}
}

// notify signals channel. NOTIFY serializes the commits of the
// transactions that notify (Postgres holds a lock from the notifying
// commit's start to its end), so writers never notify in their own
// transactions: the backend calls this after them, one call at a time, in
// a statement of its own whose commit does not wait for the disk (a lost
// notification only delays a watch until its next poll).
func notify(ctx context.Context, db *gorm.DB, channel string) error {
	return db.WithContext(ctx).Exec("SELECT set_config('synchronous_commit', 'off', true), pg_notify(?, '')", channel).Error
}

// listener waits for notifications on its connection.
type listener struct {
	conn *sql.Conn
}

// Wait waits on the connection. Cancelling ctx interrupts the read and so
// may cost the server a cancel request: callers wait with a context that
// ends with the listener, not one per wait.
func (l *listener) Wait(ctx context.Context) error {
	return l.conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().WaitForNotification(ctx)
		if err != nil && ctx.Err() == nil {
			// The connection failed: the pool must not reuse it.
			return errors.Join(err, driver.ErrBadConn)
		}
		return err
	})
}

// Close discards the connection rather than returning it to the pool with
// its subscription.
func (l *listener) Close() error {
	_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	return l.conn.Close()
}
