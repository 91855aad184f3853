package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgbouncertest"
	"github.com/taskstate/statebackend/conformance/pgreplicatest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/state"
)

// The tests below run the change feed through faults: writers hold
// transactions open for random times and roll some back, a consumer
// follows the feed and restarts from its last cursor at random points and
// after every error, and in the middle the connections fail (a pooler
// restarted, the server restarted, connections terminated or killed).
// What the consumer received must be exactly what is in the database at
// the end: every committed history record once, none that rolled back,
// each invocation's records in the order its writer committed them.

// TestWatchFaultsPgBouncerRestart follows the feed behind PgBouncer in
// transaction mode, by polling (PollOnly), through three restarts of the
// pooler.
func TestWatchFaultsPgBouncerRestart(t *testing.T) {
	t.Parallel()
	upstream := pgtest.DSN(t)
	bouncer := pgbouncertest.Start(t, upstream)
	dsn := bouncer.DSN() + "&default_query_exec_mode=simple_protocol"
	appID := conformance.NewAppID()
	store := openStore(t, postgres.Open(dsn).PollOnly(), appID)
	f := newPostgresFeed(t, appID, dsn, upstream)
	f.run(t, store, feedOptions{pollInterval: 10 * time.Millisecond, faults: 3}, func(t *testing.T, _ int) {
		bouncer.Restart(t)
	})
}

// TestWatchFaultsPostgresRestart follows the feed with LISTEN on through
// three restarts of a private server: after a fast shutdown, an immediate
// one (a crash, recovered from the write-ahead log), and a fast one again.
// The poll interval is long, so that most changes are delivered because a
// notification woke the watch.
func TestWatchFaultsPostgresRestart(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	dsn := c.PrimaryDSN()
	appID := conformance.NewAppID()
	store := openStore(t, postgres.Open(dsn), appID)
	f := newPostgresFeed(t, appID, dsn, dsn)
	modes := []pgreplicatest.Shutdown{pgreplicatest.Fast, pgreplicatest.Immediate, pgreplicatest.Fast}
	f.run(t, store, feedOptions{pollInterval: 250 * time.Millisecond, faults: len(modes)}, func(t *testing.T, i int) {
		c.RestartPrimary(t, modes[i])
	})
}

// TestWatchFaultsPostgresTerminated follows the feed with LISTEN on while
// every connection of the test's store and writers (told apart by their
// application_name) is terminated, three times.
func TestWatchFaultsPostgresTerminated(t *testing.T) {
	t.Parallel()
	admin := pgtest.DSN(t)
	appID := conformance.NewAppID()
	dsn := withParam(t, admin, "application_name", appID)
	store := openStore(t, postgres.Open(dsn), appID)
	f := newPostgresFeed(t, appID, dsn, admin)
	f.run(t, store, feedOptions{pollInterval: 250 * time.Millisecond, faults: 3}, func(t *testing.T, _ int) {
		var n int
		err := f.check.QueryRowContext(t.Context(), `
			SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, appID).Scan(&n)
		if err != nil {
			t.Fatalf("terminate the connections: %v", err)
		}
		t.Logf("terminated %d connections", n)
	})
}

// TestWatchFaultsMariaDBKilled follows the feed on MySQL or MariaDB while
// every connection of the test's store and writers is killed (KILL
// CONNECTION), three times. Their connections go through a proxy that
// reads each one's thread id from the server's greeting, so that only
// they are killed on the shared server.
func TestWatchFaultsMariaDBKilled(t *testing.T) {
	t.Parallel()
	admin := mysqltest.DSN(t)
	cfg, err := gomysql.ParseDSN(admin)
	if err != nil {
		t.Fatal(err)
	}
	p := startThreadProxy(t, cfg.Addr)
	cfg.Addr = p.Addr()
	dsn := cfg.FormatDSN()
	appID := conformance.NewAppID()
	store := openStore(t, mysql.Open(dsn), appID)
	f := newMySQLFeed(t, appID, dsn, admin)
	f.run(t, store, feedOptions{pollInterval: 10 * time.Millisecond, faults: 3}, func(t *testing.T, _ int) {
		killed := 0
		for _, id := range p.threads() {
			_, err := f.check.ExecContext(t.Context(), fmt.Sprintf("KILL CONNECTION %d", id))
			var me *gomysql.MySQLError
			switch {
			case err == nil:
				killed++
			case errors.As(err, &me) && me.Number == 1094: // unknown thread: it has just ended
			default:
				t.Fatalf("kill connection %d: %v", id, err)
			}
		}
		t.Logf("killed %d connections", killed)
	})
}

// openStore opens the store the consumer follows, closed when t ends. Its
// log is kept, and shown when t fails.
func openStore(t *testing.T, d gorm.Dialector, appID string) *statebackend.Store {
	t.Helper()
	var log syncBuffer
	store, err := statebackend.Open(d, statebackend.WithAppID(appID),
		statebackend.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = store.Close()
		if t.Failed() {
			t.Logf("the store's log:\n%s", logTail(log.String(), 40))
		}
	})
	return store
}

// logTail returns the last n lines of log.
func logTail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// feed is one database as the fault tests write to and read it: the
// writers' pool (which goes through the faults), a pool for the checks
// (which does not), and the statements.
type feed struct {
	writers *sql.DB
	check   *sql.DB
	history string
	changes string
	insert  string // invocation_id, history_timestamp, history_status, history_json
	unique  func(error) bool
	// inFlight is a query that shows the transactions in flight, for
	// a failure's message.
	inFlight string
}

func newPostgresFeed(t *testing.T, appID, dsn, checkDSN string) *feed {
	t.Helper()
	tables, err := entities.NewTables(appID, 63)
	if err != nil {
		t.Fatal(err)
	}
	history := tables.Name("History")
	return &feed{
		writers:  openPool(t, "pgx", dsn),
		check:    openPool(t, "pgx", checkDSN),
		history:  history,
		changes:  tables.Name("Change"),
		inFlight: "SELECT txid_current_snapshot()::text",
		insert:   "INSERT INTO " + history + " (invocation_id, history_timestamp, history_status, history_json) VALUES ($1, $2, $3, $4)",
		unique: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505"
		},
	}
}

func newMySQLFeed(t *testing.T, appID, dsn, checkDSN string) *feed {
	t.Helper()
	tables, err := entities.NewTables(appID, 64)
	if err != nil {
		t.Fatal(err)
	}
	history := tables.Name("History")
	return &feed{
		writers: openMySQLPool(t, dsn),
		check:   openMySQLPool(t, checkDSN),
		history: history,
		changes: tables.Name("Change"),
		inFlight: "SELECT CONCAT(COUNT(*), ' transactions: ', COALESCE(GROUP_CONCAT(CONCAT(t.trx_id, ' ', t.trx_state, ' since ', t.trx_started, ' thread ', t.trx_mysql_thread_id, ' (', COALESCE(p.command, '?'), ' ', COALESCE(p.state, ''), ' ', COALESCE(p.info, ''), ')') SEPARATOR '; '), '')) " +
			"FROM information_schema.innodb_trx t LEFT JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id",
		insert: "INSERT INTO " + history + " (invocation_id, history_timestamp, history_status, history_json) VALUES (?, ?, ?, ?)",
		unique: func(err error) bool {
			var me *gomysql.MySQLError
			return errors.As(err, &me) && me.Number == 1062
		},
	}
}

// openPool opens a database/sql pool, closed when t ends.
func openPool(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openMySQLPool opens a pool on the MySQL or MariaDB database at dsn,
// without the driver's log (on stderr), closed when t ends.
func openMySQLPool(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = &gomysql.NopLogger{}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// withParam returns the Postgres DSN dsn (a URL or key=value string) with
// the connection parameter key set to value.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "='" + value + "'"
}

// feedOptions sizes a run.
type feedOptions struct {
	pollInterval time.Duration // the consumer's
	faults       int           // how many times the fault is injected
}

// The writers' workload.
const (
	feedWriters   = 8
	feedBatches   = 40                    // per writer
	feedHold      = 20 * time.Millisecond // the longest a writer holds a transaction open
	feedRollbacks = 8                     // one batch in feedRollbacks rolls back
)

// batch is one transaction of a writer: history records of one invocation.
type batch struct {
	inv      string
	ts       []int64
	rollback bool
}

// feedBase is the time of the writers' first history record.
var feedBase = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// run runs the writers and the consumer on store and f, calls fault
// opts.faults times while they run, each time once the writers and the
// consumer have made progress since the previous one, then compares what
// the consumer received with what the database holds.
func (f *feed) run(t *testing.T, store *statebackend.Store, opts feedOptions, fault func(t *testing.T, i int)) {
	ctx, cancel := context.WithTimeout(t.Context(), poll.Timeout)
	defer cancel()
	seed := seed(t)
	start, err := store.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// What the writers know committed, per invocation, in commit order.
	var mu sync.Mutex
	committed := map[string][]int64{}
	var batchesDone atomic.Int64
	var st writeStats
	writerErrs := make(chan error, feedWriters)
	var wg sync.WaitGroup
	for w := range feedWriters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for k := range feedBatches {
				b := batch{inv: fmt.Sprintf("w%02d-inv%d", w, k%3), rollback: rng.IntN(feedRollbacks) == 0}
				for j := range 1 + rng.IntN(3) {
					b.ts = append(b.ts, state.ToMicros(feedBase.Add(time.Duration(k*10+j)*time.Millisecond)))
				}
				hold := time.Duration(rng.Int64N(int64(feedHold)))
				ok, err := f.write(ctx, b, hold, &st)
				if err != nil {
					writerErrs <- fmt.Errorf("writer %d, batch %d: %w", w, k, err)
					return
				}
				if ok {
					mu.Lock()
					committed[b.inv] = append(committed[b.inv], b.ts...)
					mu.Unlock()
				}
				batchesDone.Add(1)
			}
		})
	}

	// On a failure, the writers stop before the pools close.
	defer func() {
		cancel()
		wg.Wait()
	}()

	c := &consumer{}
	consumerDone := make(chan struct{})
	cctx, stopConsumer := context.WithCancel(ctx)
	defer func() {
		stopConsumer()
		<-consumerDone
	}()
	go func() {
		defer close(consumerDone)
		c.follow(cctx, store, start, opts.pollInterval, seed)
	}()

	// The faults, each once the writers have done their share of batches
	// since the previous one and the consumer has received a change since.
	total := int64(feedWriters * feedBatches)
	for i := range opts.faults {
		threshold := total * int64(i+1) / int64(opts.faults+2)
		received := c.count()
		err := poll.Until(ctx, fmt.Sprintf("the writers have done %d batches and the consumer received more than %d changes", threshold, received), func(context.Context) error {
			if err := c.failed(); err != nil {
				return nil // reported below
			}
			if n := batchesDone.Load(); n < threshold {
				return fmt.Errorf("%d batches done", n)
			}
			if n := c.count(); n <= received {
				return fmt.Errorf("%d changes received", n)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, f.undelivered(t, c))
		}
		fault(t, i)
	}
	wg.Wait()
	close(writerErrs)
	for err := range writerErrs {
		t.Fatal(err)
	}

	// What the database holds.
	inDB := f.read(t)
	n := 0
	for inv, ts := range inDB {
		n += len(ts)
		if want := committed[inv]; !slices.Equal(ts, want) {
			t.Fatalf("invocation %s: the database holds %v, the writer committed %v", inv, ts, want)
		}
	}
	for inv, ts := range committed {
		if len(inDB[inv]) == 0 {
			t.Fatalf("invocation %s: the writer committed %v, the database holds none", inv, ts)
		}
	}

	err = poll.Until(ctx, "the consumer received every committed change", func(context.Context) error {
		if err := c.failed(); err != nil {
			return nil // reported below
		}
		if got := c.count(); got < n {
			return fmt.Errorf("received %d of %d (%d watch errors so far, last: %v)", got, n, c.errCount(), c.lastErr())
		}
		return nil
	})
	stopConsumer()
	<-consumerDone
	if err := c.failed(); err != nil {
		t.Fatalf("the consumer failed: %v", err)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, f.undelivered(t, c))
	}
	t.Logf("%d changes committed in %d batches (%d attempts failed and were retried, %d found committed by an attempt whose COMMIT failed), "+
		"received through %d watches, %d of which ended on an error (%v)",
		n, total, st.retries.Load(), st.foundCommitted.Load(), c.watches, c.errCount(), c.errorSample())

	// Exactly what the database holds, each once, in each invocation's order.
	seen := map[state.ChangeCursor]bool{}
	got := map[string][]int64{}
	for _, ch := range c.got {
		if seen[ch.Cursor] {
			t.Fatalf("change %s (%s of %s) delivered twice", ch.Cursor, ch.Kind, ch.InvocationID)
		}
		seen[ch.Cursor] = true
		if ch.Kind != state.ChangeHistory {
			t.Fatalf("change %s: kind %s, only history was written", ch.Cursor, ch.Kind)
		}
		got[string(ch.InvocationID)] = append(got[string(ch.InvocationID)], state.ToMicros(ch.Timestamp))
	}
	for inv, ts := range inDB {
		if !slices.Equal(got[inv], ts) {
			t.Fatalf("invocation %s: received %v, the database holds %v", inv, got[inv], ts)
		}
	}
	if len(c.got) != n {
		t.Fatalf("received %d changes, the database holds %d", len(c.got), n)
	}
}

// write writes b, holding its transaction open for hold, and reports
// whether it committed. A write that fails (a connection closed or killed,
// a server or pooler restarting) is retried until it commits or turns out
// to have committed already: a retry of a batch whose COMMIT failed finds
// its first record in the history's unique index (after waiting for the
// first attempt's transaction to end, if the server still runs it) when
// that COMMIT went through. A batch meant to roll back is not retried:
// whatever happened to it, it did not commit.
func (f *feed) write(ctx context.Context, b batch, hold time.Duration, st *writeStats) (committed bool, err error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			st.retries.Add(1)
			if err := sleepCtx(ctx, time.Duration(attempt)*5*time.Millisecond); err != nil {
				return false, fmt.Errorf("still failing after %d attempts: %w", attempt, err)
			}
		}
		done, committed, err := f.try(ctx, b, hold, attempt > 0, st)
		if err != nil {
			return false, err
		}
		if done {
			return committed, nil
		}
	}
}

// writeStats counts what the writers went through.
type writeStats struct {
	retries        atomic.Int64 // attempts after a failed one
	foundCommitted atomic.Int64 // batches a retry found committed
}

// try makes one attempt at b. done is false when the attempt failed in a
// way a retry may cure; err reports what no retry cures.
func (f *feed) try(ctx context.Context, b batch, hold time.Duration, retry bool, st *writeStats) (done, committed bool, err error) {
	tx, err := f.writers.BeginTx(ctx, nil)
	if err != nil {
		return b.rollback, false, ctx.Err()
	}
	defer func() { _ = tx.Rollback() }()
	for j, ts := range b.ts {
		_, err := tx.ExecContext(ctx, f.insert, b.inv, ts, "RUNNING", `{"runner_context_id": "r"}`)
		switch {
		case err == nil:
		case f.unique(err) && j == 0 && retry && !b.rollback:
			// An earlier attempt committed.
			st.foundCommitted.Add(1)
			return true, true, nil
		case f.unique(err):
			return false, false, fmt.Errorf("record %d of %s at %d is already stored (retry: %v): %w", j, b.inv, ts, retry, err)
		default:
			return b.rollback, false, ctx.Err()
		}
	}
	if err := sleepCtx(ctx, hold); err != nil {
		return false, false, err
	}
	if b.rollback {
		return true, false, nil // the deferred Rollback
	}
	if err := tx.Commit(); err != nil {
		return false, false, ctx.Err()
	}
	return true, true, nil
}

// read returns the history records of the test's app in the database,
// per invocation, in timestamp order (each invocation's commit order: its
// writer's timestamps grow from one transaction to the next).
func (f *feed) read(t *testing.T) map[string][]int64 {
	t.Helper()
	rows, err := f.check.QueryContext(t.Context(),
		"SELECT invocation_id, history_timestamp FROM "+f.history+" ORDER BY invocation_id, history_timestamp")
	if err != nil {
		t.Fatalf("read the history: %v", err)
	}
	defer rows.Close()
	out := map[string][]int64{}
	for rows.Next() {
		var inv string
		var ts int64
		if err := rows.Scan(&inv, &ts); err != nil {
			t.Fatal(err)
		}
		out[inv] = append(out[inv], ts)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read the history: %v", err)
	}
	return out
}

// undelivered describes, for a failure's message, the changes in the
// changes table the consumer did not receive, and the transactions in
// flight.
func (f *feed) undelivered(t *testing.T, c *consumer) string {
	t.Helper()
	received := map[string]bool{}
	last := state.ChangeCursor("")
	for _, ch := range c.got {
		received[strings.TrimPrefix(string(ch.Cursor), "c1.")] = true
		last = ch.Cursor
	}
	var out strings.Builder
	fmt.Fprintf(&out, "the consumer's last cursor: %s\n", last)
	rows, err := f.check.QueryContext(t.Context(), "SELECT id, kind, invocation_id, status_timestamp FROM "+f.changes+" ORDER BY id")
	if err != nil {
		return out.String() + "read the changes: " + err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, inv string
		var ts int64
		if err := rows.Scan(&id, &kind, &inv, &ts); err != nil {
			return out.String() + err.Error()
		}
		if kind != "" && !received[id] {
			fmt.Fprintf(&out, "not received: change %s, %s of %s at %d\n", id, kind, inv, ts)
		}
	}
	var inFlight string
	if err := f.check.QueryRowContext(t.Context(), f.inFlight).Scan(&inFlight); err != nil {
		inFlight = err.Error()
	}
	fmt.Fprintf(&out, "in flight: %s", inFlight)
	return out.String()
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// consumer follows the feed, restarting from the cursor of the last change
// it received after a random number of changes and after every error.
type consumer struct {
	mu      sync.Mutex
	got     []state.Change
	errs    int
	last    error
	sample  []string // distinct errors, the first few
	fatal   error
	watches int
}

func (c *consumer) follow(ctx context.Context, store *statebackend.Store, after state.ChangeCursor, interval time.Duration, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1<<32))
	for ctx.Err() == nil {
		stopAt := 1 + rng.IntN(40)
		n := 0
		c.mu.Lock()
		c.watches++
		c.mu.Unlock()
		var failed error
		for ch, err := range store.Watch(ctx, state.WatchRequest{After: after, Follow: true, PollInterval: interval}) {
			if err != nil {
				failed = err
				break
			}
			c.mu.Lock()
			c.got = append(c.got, ch)
			c.mu.Unlock()
			after = ch.Cursor
			if n++; n == stopAt {
				break
			}
		}
		if failed == nil || ctx.Err() != nil {
			continue
		}
		c.mu.Lock()
		c.errs++
		c.last = failed
		if msg := failed.Error(); len(c.sample) < 5 && !slices.Contains(c.sample, msg) {
			c.sample = append(c.sample, msg)
		}
		if errors.Is(failed, state.ErrCursorExpired) || errors.Is(failed, state.ErrInvalidArgument) {
			c.fatal = failed
		}
		c.mu.Unlock()
		if c.failed() != nil {
			return
		}
		// The database is unreachable for a moment: start again soon.
		if sleepCtx(ctx, 20*time.Millisecond) != nil {
			return
		}
	}
}

func (c *consumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *consumer) errCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errs
}

func (c *consumer) lastErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *consumer) errorSample() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sample)
}

// failed returns the error that stopped the consumer: one no restart
// cures.
func (c *consumer) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}
