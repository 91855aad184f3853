package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
)

// Dialector is the gorm.Dialector of one MySQL or MariaDB database, with
// the backend's settings for it (it implements dialect.Database and
// dialect.LoggingDatabase). Pass it to statebackend.Open.
type Dialector struct {
	*gormmysql.Dialector
	// cfg is the driver's configuration, nil when the DSN did not parse
	// (dsnErr says why).
	cfg    *gomysql.Config
	dsnErr error
	logger *slog.Logger // nil: the driver's messages are discarded
	// unprepared turns the backend's prepared statements off (see
	// WithoutPreparedStatements).
	unprepared bool
	// galera says the server is a Galera node (wsrep_on), learnt by
	// Initialize.
	galera bool
}

var _ dialect.LoggingDatabase = (*Dialector)(nil)

// IOTimeout is the read and write timeout Open sets on every connection
// (the driver's readTimeout and writeTimeout) unless the DSN sets its
// own: a backstop for calls without a deadline, which would otherwise
// wait forever for a server that stopped answering. A call with a
// deadline ends at its deadline whatever this says. It is long, because a
// statement the server takes longer than this to answer fails (a Purge of
// tens of millions of rows may); raise it in the DSN for those
// ("?readTimeout=30m"), or set 0 to disable it.
const IOTimeout = 5 * time.Minute

// Open returns the dialector of the MySQL or MariaDB database at dsn, in
// the go-sql-driver form ("user:pass@tcp(host:3306)/db"). It forces a
// utf8mb4 connection with a binary collation, parseTime and UTC, takes
// max_allowed_packet from the server, and sets readTimeout and
// writeTimeout to IOTimeout unless the DSN has them. A DSN the driver
// cannot parse fails at statebackend.Open.
func Open(dsn string) *Dialector {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return &Dialector{Dialector: &gormmysql.Dialector{Config: &gormmysql.Config{DSN: dsn}}, dsnErr: err}
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MaxAllowedPacket = 0 // ask the server
	// The backend's own statements are prepared once per connection (see
	// Dialect). Anything else (maintenance, locks, statements run with
	// prepared statements off) has its parameters interpolated by the
	// driver (safe with utf8mb4): one round trip instead of prepare,
	// execute and close. A statement too large to interpolate falls back
	// to a server-side prepare.
	cfg.InterpolateParams = true
	_ = cfg.Apply(gomysql.Charset("utf8mb4", "utf8mb4_bin")) // cannot fail
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if !hasParam(dsn, "readTimeout") {
		cfg.ReadTimeout = IOTimeout
	}
	if !hasParam(dsn, "writeTimeout") {
		cfg.WriteTimeout = IOTimeout
	}
	return &Dialector{
		Dialector: &gormmysql.Dialector{Config: &gormmysql.Config{DSN: cfg.FormatDSN()}},
		cfg:       cfg,
	}
}

// WithLogger implements dialect.LoggingDatabase: the driver's own
// messages (a connection cut short, a bad idle connection closed) go to l
// at level Warn instead of the driver's default, stderr.
func (d *Dialector) WithLogger(l *slog.Logger) dialect.Database {
	cp := *d
	conf := *d.Config
	cp.Dialector = &gormmysql.Dialector{Config: &conf}
	cp.logger = l
	return &cp
}

// MaxPreparedStatements is how many server-side prepared statements one
// backend opened on this package can hold at most, with the default pool:
// each of its statements (at most dialect.MaxStatements, 64) prepared
// once on each of its connections (16). MySQL and MariaDB bound the
// statements of the whole server with max_prepared_stmt_count (16382 by
// default): 15 backends at most can reach this bound together. Size it
// above MaxPreparedStatements times the number of backends (processes)
// sharing the server, scaled by the pool size set with
// statebackend.WithPool, or open the backends with
// WithoutPreparedStatements. In practice a backend prepares only the
// statements it runs (a few dozen) on the connections it uses, and its
// statements are closed with its connections and at Close. When the server
// refuses to prepare one more (error 1461), the backend runs that
// statement as text and the call succeeds.
const MaxPreparedStatements = dialect.MaxStatements * poolSize

// poolSize is the default size of the connection pool.
const poolSize = 16

// WithoutPreparedStatements returns the dialector with the backend's
// prepared statements off: every statement then goes to the server as
// text, with its parameters interpolated by the driver, and holds no
// server-side statement. The server then parses every statement of every
// call, which makes single-row calls measurably slower (BENCHMARKS.md has
// the numbers); use it where max_prepared_stmt_count cannot be raised for
// many processes. The receiver is left as it was.
func (d *Dialector) WithoutPreparedStatements() *Dialector {
	cp := *d
	conf := *d.Config
	cp.Dialector = &gormmysql.Dialector{Config: &conf}
	cp.unprepared = true
	return &cp
}

// Initialize implements gorm.Dialector: it connects through a connector
// of its own, whose connections log through the backend's logger and whose
// transactions end, COMMIT included, when their context ends (see tx).
func (d *Dialector) Initialize(db *gorm.DB) error {
	if d.cfg == nil {
		return d.dsnErr
	}
	cfg := d.cfg.Clone()
	cfg.Logger = driverLogger{d.logger}
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	conn := sql.OpenDB(connector{c})
	d.Config.Conn = conn
	if err := d.Dialector.Initialize(db); err != nil {
		return err
	}
	var name, value string
	switch err := conn.QueryRow("SHOW VARIABLES LIKE 'wsrep_on'").Scan(&name, &value); {
	case errors.Is(err, sql.ErrNoRows): // a server without Galera's variables
	case err != nil:
		return fmt.Errorf("read wsrep_on: %w", err)
	default:
		d.galera = strings.EqualFold(value, "ON")
	}
	return nil
}

// Dialect implements dialect.Database. Its Name is "mariadb" once
// connected to a MariaDB server (GORM's dialector reads the server's
// version when it connects), "mysql" otherwise. It prepares the backend's
// statements (server-side, once per connection; see MaxPreparedStatements)
// unless WithoutPreparedStatements turned that off: the server then skips
// parsing the statement on every call, which is most of the server's work
// in a single-row read.
func (d *Dialector) Dialect() dialect.Dialect {
	name := "mysql"
	if strings.Contains(d.ServerVersion, "MariaDB") {
		name = "mariadb"
	}
	namespace := ""
	if d.cfg != nil {
		namespace = d.cfg.DBName
	}
	return dialect.Dialect{
		Name:                name,
		Namespace:           namespace,
		MaxIdentifierLength: 64,
		Columns: dialect.ColumnTypes{
			// varbinary, not varchar with utf8mb4_bin: MariaDB's binary
			// collations pad, so "a" and "a " would be one key. Sizes are
			// bytes, as state.MaxIDLen is.
			Key:  "varbinary(%d)",
			Text: "longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
			Blob: "longblob",
		},
		Pool:              dialect.Pool{MaxOpenConns: poolSize, MaxIdleConns: poolSize, ConnMaxLifetime: time.Hour},
		PrepareStatements: !d.unprepared,
		PrepareRefused:    prepareRefused,
		Transient:         d.transient,
		Repair:            (&triggerRepair{}).repair,
		ReadOnlyError:     readOnly,
		Lock:              lock,
		TryLock:           tryLock,
		Commits:           dialect.Commits{InFlight: inFlight, Ended: ended, Check: notGalera},
	}
}

// prepareRefused reports a statement the server would not prepare because
// it holds max_prepared_stmt_count statements already (1461): the backend
// then runs it as text, so calls keep working on a server whose statement
// budget other clients have used up.
func prepareRefused(err error) bool {
	var e *gomysql.MySQLError
	return errors.As(err, &e) && e.Number == 1461
}

// readOnly reports a write refused by a read-only server (1290, with
// --read-only or --super-read-only) or transaction (1792).
func readOnly(err error) bool {
	var e *gomysql.MySQLError
	return errors.As(err, &e) && (e.Number == 1290 || e.Number == 1792)
}

// transient classifies err for the server the dialector connected to.
func (d *Dialector) transient(err error) string { return transient(err, d.galera) }

// transient reports deadlocks (1213, also how Galera reports a
// certification conflict), lock wait timeouts (1205), triggers the server
// failed to load and, on a Galera node (galera), tables reported missing.
func transient(err error, galera bool) string {
	var e *gomysql.MySQLError
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Number {
	case 1213:
		return "deadlock"
	case 1205:
		return "lock_timeout"
	case 1146:
		// Under contention a Galera node now and then reports a table
		// that a trigger writes as missing (the current statuses, while
		// the history's trigger runs), and the next attempt finds it. A
		// table really missing fails every attempt, and the retries end.
		if galera {
			return "missing_table"
		}
	case 1064:
		// MariaDB Galera now and then fails to load a table's triggers
		// when many sessions open the table at once. The body it read is
		// empty or cut short, and the error names no trigger ("Unknown
		// trigger has an error in its body: 'Query was empty'") or names
		// one ("Trigger 't_ins' has an error in its body: 'You have an
		// error in your SQL syntax; ... near ...'"). The server keeps
		// that copy of the table in its cache, so the backend flushes the
		// table (triggerRepair) and the next attempt loads the triggers
		// again. A trigger whose body is really wrong fails every
		// attempt, and the retries end.
		if strings.Contains(e.Message, "has an error in its body") {
			return reasonTriggerLoad
		}
	}
	return ""
}

// reasonTriggerLoad is the transient reason of a trigger the server
// failed to load.
const reasonTriggerLoad = "trigger_load"

// triggerRepair flushes the app's tables from a MariaDB server's table
// cache after a trigger failed to load. MariaDB parses a table's triggers
// each time it opens the table and keeps the opened table, triggers and
// all, in its table cache; a table whose triggers failed to parse (now
// and then on Galera, when many sessions open the table at once) stays
// there, and every statement that gets it fails until it is flushed.
// Flushing needs the RELOAD privilege. Without it the first refusal is
// reported, asking for it, and later calls do nothing: the retries then
// go on, and succeed when they get another copy of the table.
type triggerRepair struct{ refused atomic.Bool }

// repairLockWait bounds how long a flush waits for the statements using
// the tables to finish (lock_wait_timeout, in seconds); a flush that
// waits holds up new statements on them.
const repairLockWait = 2

func (r *triggerRepair) repair(ctx context.Context, db *gorm.DB, reason string, tables []string) error {
	if reason != reasonTriggerLoad || len(tables) == 0 || r.refused.Load() {
		return nil
	}
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = "`" + strings.ReplaceAll(t, "`", "``") + "`"
	}
	// LOCAL: not replicated; only this server's cache holds the table.
	stmt := "FLUSH LOCAL TABLES " + strings.Join(quoted, ", ")
	if d, ok := db.Dialector.(*Dialector); ok && strings.Contains(d.ServerVersion, "MariaDB") {
		stmt = fmt.Sprintf("SET STATEMENT lock_wait_timeout=%d FOR %s", repairLockWait, stmt)
	}
	err := db.WithContext(ctx).Exec(stmt).Error
	var e *gomysql.MySQLError
	if errors.As(err, &e) && e.Number == 1227 {
		r.refused.Store(true)
		return fmt.Errorf("the server could not load a table's triggers and keeps the table in its cache until it is "+
			"flushed; grant the account the RELOAD privilege so that the backend can flush it, or run FLUSH TABLES: %w", err)
	}
	if err != nil {
		return fmt.Errorf("flush tables: %w", err)
	}
	return nil
}

// hasParam reports whether the DSN sets the parameter name.
func hasParam(dsn, name string) bool {
	i := strings.LastIndexByte(dsn, '?')
	if i < 0 {
		return false
	}
	for _, p := range strings.Split(dsn[i+1:], "&") {
		if k, _, _ := strings.Cut(p, "="); k == name {
			return true
		}
	}
	return false
}

// driverLogger passes the driver's messages to a slog.Logger.
type driverLogger struct{ l *slog.Logger }

// Print implements gomysql.Logger.
func (d driverLogger) Print(v ...any) {
	if d.l != nil {
		d.l.Warn("mysql driver: " + strings.TrimSpace(fmt.Sprintln(v...)))
	}
}

// inFlight returns the transactions in flight now as the bound below
// which their ids all lie: InnoDB's transaction id counter, the next id
// it will assign. A transaction that took a change id had its own id
// then (it wrote the row the change follows first), so it is below.
//
// Both inFlight and ended read SHOW ENGINE INNODB STATUS (which needs the
// PROCESS privilege), not information_schema.innodb_trx: InnoDB serves
// that table from a cache it refreshes only after 100 ms without a read,
// so clients that read it more often than that, together, would see it
// frozen.
func inFlight(ctx context.Context, db *gorm.DB) (dialect.InFlight, error) {
	st, err := innodbStatus(ctx, db)
	if err != nil {
		return dialect.InFlight{}, err
	}
	if st.counter == 0 {
		return dialect.InFlight{}, errors.New("SHOW ENGINE INNODB STATUS: no transaction id counter in the output")
	}
	return dialect.InFlight{Below: st.counter}, nil
}

// ended reports whether no transaction with an id below f.Below is
// active. An output InnoDB cut short (it bounds its size) may hide some:
// it counts as not ended.
func ended(ctx context.Context, db *gorm.DB, f dialect.InFlight) (bool, error) {
	st, err := innodbStatus(ctx, db)
	if err != nil || !st.complete {
		return false, err
	}
	for _, id := range st.active {
		if id < f.Below {
			return false, nil
		}
	}
	return true, nil
}

// innodbState is what the watch needs of SHOW ENGINE INNODB STATUS.
type innodbState struct {
	counter  int64   // "Trx id counter"
	active   []int64 // ids of the active transactions
	complete bool    // the output ends with its end marker
}

var (
	trxCounter = regexp.MustCompile(`(?m)^Trx id counter (\d+)`)
	trxActive  = regexp.MustCompile(`(?m)^---TRANSACTION (\d+), ACTIVE`)
)

// innodbStatus reads and parses SHOW ENGINE INNODB STATUS.
func innodbStatus(ctx context.Context, db *gorm.DB) (innodbState, error) {
	var rows []struct {
		Status string `gorm:"column:Status"`
	}
	if err := db.WithContext(ctx).Raw("SHOW ENGINE INNODB STATUS").Scan(&rows).Error; err != nil {
		return innodbState{}, fmt.Errorf("reading the transactions in flight, which following changes needs (grant PROCESS to the database user): %w", err)
	}
	if len(rows) == 0 {
		return innodbState{}, errors.New("SHOW ENGINE INNODB STATUS returned nothing")
	}
	return parseInnodbStatus(rows[0].Status), nil
}

// parseInnodbStatus parses the output of SHOW ENGINE INNODB STATUS.
func parseInnodbStatus(out string) innodbState {
	var st innodbState
	if m := trxCounter.FindStringSubmatch(out); m != nil {
		st.counter, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range trxActive.FindAllStringSubmatch(out, -1) {
		if id, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			st.active = append(st.active, id)
		}
	}
	st.complete = strings.Contains(out, "END OF INNODB MONITOR OUTPUT")
	return st
}

// notGalera fails on a Galera node: each node lists only its own
// transactions in flight, while the others' take ids too (interleaved by
// auto_increment_increment) and reach this node when they commit, so a gap
// cannot be told settled.
func notGalera(ctx context.Context, db *gorm.DB) error {
	var rows []struct {
		VariableName string `gorm:"column:Variable_name"`
		Value        string `gorm:"column:Value"`
	}
	if err := db.WithContext(ctx).Raw("SHOW VARIABLES LIKE 'wsrep_on'").Scan(&rows).Error; err != nil {
		return err
	}
	if len(rows) > 0 && strings.EqualFold(rows[0].Value, "ON") {
		return errors.New("following changes is not supported on a Galera cluster: a node cannot see the other nodes' transactions in flight")
	}
	return nil
}
