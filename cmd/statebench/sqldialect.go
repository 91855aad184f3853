package main

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// sqlDialect is what the raw implementation must know about one database:
// the driver and DSN (with the same settings as the library's dialectors),
// placeholders and upsert syntax. Unlike repository/, this command may hold
// SQL that only one dialect understands.
type sqlDialect struct {
	name   string
	driver string
	dsn    func(e *env) string
	// maxIdentifier is passed to entities.NewTables, as the library does.
	maxIdentifier int
	maxConns      int
	dollar        bool // $1, $2, ... instead of ?
	mysqlUpsert   bool // ON DUPLICATE KEY UPDATE instead of ON CONFLICT
	// timeNoIndex prefixes history_timestamp in the W8 query to keep the
	// planner off the time index: SQLite 3.54 without statistics otherwise
	// reads and sorts the whole time range for every page (a unary plus
	// makes a term unusable for an index there). Postgres and MariaDB pick
	// the (invocation_id, ...) index on their own, and the plus would make
	// Postgres scan the table instead.
	timeNoIndex string
	// analyze is the statement that refreshes a table's planner statistics
	// (%s is the table), "" where the benchmark leaves them alone.
	analyze string
	// vacuum, where the database needs it, removes the dead row versions
	// a bulk load's updates leave behind and refreshes the statistics
	// (what autovacuum does soon after in production).
	vacuum string
	// busy reports lock contention worth retrying.
	busy func(error) bool
}

var sqlDialects = map[string]*sqlDialect{
	"sqlite": {
		name: "sqlite", driver: sqliteMmapDriver, maxConns: 8, busy: sqliteBusy, timeNoIndex: "+",
		dsn: func(e *env) string {
			// The settings of sqlite.Open.
			q := url.Values{}
			q.Set("_journal_mode", "WAL")
			q.Set("_synchronous", "NORMAL")
			q.Set("_busy_timeout", "10000")
			q.Set("_txlock", "immediate")
			q.Set("_foreign_keys", "0")
			q.Set("cache", "private")
			p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(e.path)
			return "file:" + p + "?" + q.Encode() + sqliteDriverParams
		},
	},
	"postgres": {
		name: "postgres", driver: "pgx", maxIdentifier: 63, maxConns: 16, dollar: true, analyze: "ANALYZE %s", vacuum: "VACUUM (ANALYZE, PARALLEL 0) %s",
		busy: func(error) bool { return false },
		dsn:  func(e *env) string { return e.cfg.dsn },
	},
	"mysql": {
		name: "mysql", driver: "mysql", maxIdentifier: 64, maxConns: 16, mysqlUpsert: true, analyze: "ANALYZE TABLE %s",
		busy: func(error) bool { return false },
		dsn:  func(e *env) string { return mysqlDSN(e.cfg.dsn) },
	},
}

// mysqlDSN applies the settings of mysql.Open.
func mysqlDSN(dsn string) string {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Collation = "utf8mb4_bin"
	cfg.MaxAllowedPacket = 0
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg.FormatDSN()
}

// bind rewrites the ? placeholders of q for the dialect. Queries here hold
// no ? inside literals.
func (d *sqlDialect) bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// upsert returns a statement inserting rows rows of cols into table, and on
// a conflict on key replacing the update columns.
func (d *sqlDialect) upsert(table string, cols, key, update []string, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	if d.mysqlUpsert {
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = VALUES(" + c + ")")
		}
	} else {
		b.WriteString(" ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = excluded." + c)
		}
	}
	return d.bind(b.String())
}
