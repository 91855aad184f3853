package statebackend

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// This file is the only place that knows which database the backend talks
// to. Everything else works on gorm.DB and the entities.

// SQLite returns a dialector for the SQLite database file at path, created
// if missing: the embedded default, for tests and single machines. Several
// processes may use one file at once.
//
// Settings: WAL journal, synchronous=NORMAL (a commit survives a process
// crash; the last commits may be lost on power failure), a 10 s busy
// timeout, immediate write transactions (a writer waits for the lock at
// BEGIN instead of failing later), the file memory-mapped (256 MiB), and
// writes from one process group-committed and retried on SQLITE_BUSY, so
// callers do not see "database is locked" under contention. The path ":memory:" gives a private in-memory database
// on a single connection.
func SQLite(path string) gorm.Dialector {
	if path == ":memory:" || path == "" {
		return sqlite.Open("file:statebackend-" + randomName() + "?mode=memory&cache=shared&_txlock=immediate")
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "0")
	q.Set("cache", "private")
	return sqlite.New(sqlite.Config{DriverName: sqliteDriver(), DSN: "file:" + escapePath(path) + "?" + q.Encode()})
}

// sqliteDriverName is the database/sql name of the SQLite driver with the
// backend's connection setup.
const sqliteDriverName = "sqlite3_statebackend"

var registerSQLite sync.Once

// sqliteDriver registers, once per process, go-sqlite3 with a hook that
// memory-maps the database file on every connection (reads and index
// updates then copy less), and returns its name.
func sqliteDriver() string {
	registerSQLite.Do(func() {
		sql.Register(sqliteDriverName, &sqlite3.SQLiteDriver{
			ConnectHook: func(c *sqlite3.SQLiteConn) error {
				_, err := c.Exec("PRAGMA mmap_size = 268435456", nil)
				return err
			},
		})
	})
	return sqliteDriverName
}

// Postgres returns a dialector for the Postgres database at dsn (a URL or
// key=value string, as pgx accepts), through pgx. pgx caches prepared
// statements per connection; for PgBouncer in transaction mode add
// default_query_exec_mode=simple_protocol to the DSN.
func Postgres(dsn string) gorm.Dialector {
	return postgres.New(postgres.Config{DSN: dsn})
}

// MySQL returns a dialector for the MySQL or MariaDB database at dsn (the
// go-sql-driver form, "user:pass@tcp(host:3306)/db"). It forces a utf8mb4
// connection with a binary collation, parseTime and UTC, and takes
// max_allowed_packet from the server (set it to at least 128 MiB for 64 MiB
// payloads). Identifiers are stored as varbinary, so they compare byte for
// byte whatever the server's default collation; text is utf8mb4. A DSN the
// driver cannot parse is passed through unchanged, to fail at Open.
func MySQL(dsn string) gorm.Dialector {
	if cfg, err := gomysql.ParseDSN(dsn); err == nil {
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		cfg.Collation = "utf8mb4_bin"
		cfg.MaxAllowedPacket = 0 // ask the server
		// Parameters are interpolated by the driver (safe with utf8mb4):
		// one round trip per statement and no server-side statements, which
		// count against the server-wide max_prepared_stmt_count (16382 by
		// default) and would run out with many processes. A statement too
		// large to interpolate falls back to a server-side prepare.
		cfg.InterpolateParams = true
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["charset"] = "utf8mb4"
		cfg.Params["time_zone"] = "'+00:00'"
		dsn = cfg.FormatDSN()
	}
	return mysql.New(mysql.Config{DSN: dsn})
}

// dialect holds what the backend must know about one database.
type dialect struct {
	name string
	// maxIdentifier is the longest table or index name, 0 for no limit.
	maxIdentifier int
	columns       entities.ColumnTypes
	// prepare enables GORM's prepared statement cache (not for pgx, which
	// caches statements itself, nor MySQL, whose DSN interpolates).
	prepare bool
	// serializeWrites sends a process's writes through one committer at a
	// time, which folds concurrent writes into shared transactions (group
	// commit): SQLite has a single writer, and in-process contention for it
	// would only turn into busy waits.
	serializeWrites bool
	// transient reports errors worth retrying: lock contention, deadlocks,
	// serialization failures.
	transient func(error) bool
	// pool is the default connection pool.
	pool func(dsn string) Pool
}

// dialectOf returns the settings for d, by the dialector's name. Unknown
// dialectors get conservative defaults.
func dialectOf(d gorm.Dialector) dialect {
	switch d.Name() {
	case "sqlite":
		return dialect{
			name: "sqlite",
			// Without AUTOINCREMENT, SQLite still hands out increasing ids
			// (the largest + 1) and skips updating sqlite_sequence on every
			// insert; ids could only be reused after the newest history
			// row is deleted, which only Purge does, deleting all of them.
			columns:         entities.ColumnTypes{Serial: "integer PRIMARY KEY"},
			prepare:         true,
			serializeWrites: true,
			transient:       sqliteBusy,
			pool: func(dsn string) Pool {
				if strings.Contains(dsn, "mode=memory") {
					// One connection keeps one private in-memory database alive.
					return Pool{MaxOpenConns: 1, MaxIdleConns: 1}
				}
				return Pool{MaxOpenConns: 8, MaxIdleConns: 8}
			},
		}
	case "postgres":
		return dialect{
			name:          "postgres",
			maxIdentifier: 63,
			columns: entities.ColumnTypes{
				Key:  `varchar(%d) COLLATE "C"`,
				Text: "text",
				Blob: "bytea",
			},
			transient: pgTransient,
			pool:      func(string) Pool { return Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: time.Hour} },
		}
	case "mysql":
		return dialect{
			name:          "mysql",
			maxIdentifier: 64,
			columns: entities.ColumnTypes{
				// varbinary, not varchar with utf8mb4_bin: MariaDB's binary
				// collations pad, so "a" and "a " would be one key. Sizes
				// are bytes, as MaxIDLen is.
				Key:  "varbinary(%d)",
				Text: "longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
				Blob: "longblob",
			},
			transient: mysqlTransient,
			pool:      func(string) Pool { return Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: time.Hour} },
		}
	}
	return dialect{
		name:          d.Name(),
		maxIdentifier: 63,
		transient:     func(error) bool { return false },
		pool:          func(string) Pool { return Pool{MaxOpenConns: 16, MaxIdleConns: 16} },
	}
}

// dsnOf returns the DSN of a dialector this file built, "" for others.
func dsnOf(d gorm.Dialector) string {
	if s, ok := d.(*sqlite.Dialector); ok {
		return s.DSN
	}
	return ""
}

func sqliteBusy(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked)
}

func pgTransient(err error) bool {
	var e *pgconn.PgError
	// 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available.
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01" || e.Code == "55P03")
}

func mysqlTransient(err error) bool {
	var e *gomysql.MySQLError
	// 1213 deadlock, 1205 lock wait timeout.
	return errors.As(err, &e) && (e.Number == 1213 || e.Number == 1205)
}

func applyPool(db *sql.DB, p Pool) {
	if p.MaxOpenConns > 0 {
		db.SetMaxOpenConns(p.MaxOpenConns)
	}
	if p.MaxIdleConns > 0 {
		db.SetMaxIdleConns(p.MaxIdleConns)
	}
	if p.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(p.ConnMaxLifetime)
	}
	if p.ConnMaxIdleTime > 0 {
		db.SetConnMaxIdleTime(p.ConnMaxIdleTime)
	}
}

// escapePath escapes the characters that would end a file URI's path.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// openError wraps an error from opening the database so that its message
// never holds the DSN's password. pgx quotes a DSN it cannot parse, masking
// only the passwords it recognizes (not the one in "password = 'x'" or
// "password='it\\'s'", for example), and its explanation may quote a piece
// of the DSN; so the message keeps pgx's explanation only, and only when it
// quotes nothing. The pgx error stays in the chain for errors.As.
func openError(name string, err error) error {
	var parse *pgconn.ParseConfigError
	if !errors.As(err, &parse) {
		return fmt.Errorf("statebackend: open %s database: %w", name, err)
	}
	msg := "statebackend: open " + name + " database: cannot parse the DSN"
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
