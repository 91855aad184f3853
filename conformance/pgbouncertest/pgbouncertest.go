// Package pgbouncertest starts a real PgBouncer in transaction mode in
// front of a Postgres database, for tests of the backend behind a pooler:
// from the machine's own pgbouncer binary (Debian's pgbouncer package), no
// containers.
//
//	b := pgbouncertest.Start(t, pgtest.DSN(t))
//	store, _ := statebackend.Open(postgres.Open(b.DSN()+"&default_query_exec_mode=simple_protocol").PollOnly())
//	b.Restart(t) // every connection through it is closed; it accepts again on the same port
//
// The pooler listens on 127.0.0.1 on a free port, with pool_mode=transaction:
// a client's statements outside a transaction, and its transactions, may
// each run on another server connection, so session state (prepared
// statements, LISTEN, session advisory locks, SET) does not carry over. It
// logs in to the upstream database as the upstream DSN's user, whatever a
// client logs in as (auth_type=any): DSN logs in with the same user and
// password, so that it works unchanged against the upstream server too.
// Started by root, it runs as the postgres account. Its configuration and
// log are kept in a temporary directory, and the end of the log is logged
// when the test fails.
//
// Without the binary the test is skipped with a message saying how to
// install it, or fails when STATEBACKEND_TEST_REQUIRE (comma-separated)
// names "pgbouncer". The pooler is stopped, and its directory removed, when
// the test ends; a test binary that dies without that takes the pooler with
// it (the kernel sends it SIGKILL), and the next pooler started removes its
// directory.
package pgbouncertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// BinaryEnv names the environment variable holding the path of the
// pgbouncer binary, for one installed elsewhere than Debian's.
const BinaryEnv = "STATEBACKEND_TEST_PGBOUNCER"

// DefaultBinary is where Debian's pgbouncer package installs the binary.
const DefaultBinary = "/usr/sbin/pgbouncer"

// requireName is this fixture's name in STATEBACKEND_TEST_REQUIRE.
const requireName = "pgbouncer"

const title = "PgBouncer"

// startTimeout bounds starting the pooler until it serves a query: the
// upstream server may be busy with other tests.
const startTimeout = 2 * time.Minute

// stopTimeout bounds the pooler's shutdown before it is killed.
const stopTimeout = 30 * time.Second

// Bouncer is a running PgBouncer. Its methods are safe for concurrent use.
type Bouncer struct {
	dir      string // configuration, log, socket
	bin      string
	as       *serverproc.Account
	port     int
	user     string // the upstream DSN's, which clients log in as
	password string
	database string

	mu   sync.Mutex
	proc *serverproc.Process // nil while stopped
}

// Start starts a PgBouncer in front of the Postgres database at upstream
// (a URL or key=value DSN, as pgx accepts; its host must be reachable over
// TCP), for t alone, and stops it when t ends. It skips t when the binary
// is missing (fails it when STATEBACKEND_TEST_REQUIRE names "pgbouncer"),
// and fails t, with the end of the pooler's log, when it cannot start.
func Start(t testing.TB, upstream string) *Bouncer {
	t.Helper()
	bin, reason := binary()
	if reason != "" {
		serverproc.Unavailable(t, requireName, title, reason)
	}
	cfg, err := pgconn.ParseConfig(upstream)
	if err != nil {
		t.Fatalf("pgbouncertest: the upstream DSN does not parse: %v", err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		t.Fatalf("pgbouncertest: the upstream DSN names a Unix socket (%s); pgbouncertest needs a TCP address", cfg.Host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b, err := serverproc.StartOnFreePorts(func() (*Bouncer, error) { return start(ctx, bin, cfg) })
	if err != nil {
		t.Fatalf("pgbouncertest: %v", err)
	}
	t.Logf("pgbouncertest: PgBouncer on 127.0.0.1:%d in front of %s:%d (log in %s)",
		b.port, cfg.Host, cfg.Port, b.log())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgbouncertest: pooler log%s", serverproc.LogTail(b.log(), 30))
		}
		if err := b.close(); err != nil {
			t.Errorf("pgbouncertest: %v", err)
		}
	})
	return b
}

// DSN returns the URL of the upstream database through the pooler, e.g.
// "postgres://statebackend:statebackend@127.0.0.1:41234/statebackend?sslmode=disable&connect_timeout=5".
// Append further parameters with "&".
func (b *Bouncer) DSN() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(b.user, b.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)),
		Path:     "/" + b.database,
		RawQuery: "sslmode=disable&connect_timeout=5",
	}
	return u.String()
}

// Restart shuts the pooler down at once (SIGTERM: every client and server
// connection is closed, transactions in flight through it are rolled back
// by the server or, caught at COMMIT, have an outcome their client cannot
// know), starts it again on the same port and returns once it serves a
// query. It fails t on error.
func (b *Bouncer) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		t.Fatal("pgbouncertest: Restart: the pooler is not running")
	}
	err := b.proc.Stop(syscall.SIGTERM, stopTimeout)
	b.proc = nil
	if err != nil {
		t.Fatalf("pgbouncertest: stop: %v", err)
	}
	if b.proc, err = b.startProcess(ctx); err != nil {
		t.Fatalf("pgbouncertest: start again on port %d: %v", b.port, err)
	}
}

// binary returns the path of the pgbouncer binary, or why there is none
// with how to install one.
func binary() (path, reason string) {
	bin := strings.TrimSpace(os.Getenv(BinaryEnv))
	if bin == "" {
		bin = DefaultBinary
		if _, err := os.Stat(bin); err != nil {
			if p, err := exec.LookPath("pgbouncer"); err == nil {
				bin = p
			}
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Sprintf("%s not found. To run them, install Debian's pgbouncer "+
			"(as root: bash .ci/scaleout.sh), or set %s to a pgbouncer binary", bin, BinaryEnv)
	}
	return bin, ""
}

// start writes the configuration and starts the pooler on a free port.
// On error nothing is left running or on disk.
func start(ctx context.Context, bin string, up *pgconn.Config) (b *Bouncer, err error) {
	// PgBouncer refuses to run as root.
	as, err := serverproc.ServiceAccount("postgres")
	if err != nil {
		if as, err = serverproc.ServiceAccount("nobody"); err != nil {
			return nil, err
		}
	}
	dir, err := serverproc.TempDir("pgbouncertest")
	if err != nil {
		return nil, err
	}
	b = &Bouncer{dir: dir, bin: bin, as: as, user: up.User, password: up.Password, database: up.Database}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.close())
			b = nil
		}
	}()
	ports, err := serverproc.FreePorts(1)
	if err != nil {
		return b, err
	}
	b.port = ports[0]
	if err := os.WriteFile(b.config(), []byte(b.configText(up)), 0o600); err != nil {
		return b, err
	}
	if err := as.Own(dir); err != nil {
		return b, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.proc, err = b.startProcess(ctx)
	return b, err
}

func (b *Bouncer) config() string { return filepath.Join(b.dir, "pgbouncer.ini") }
func (b *Bouncer) log() string    { return filepath.Join(b.dir, "pgbouncer.log") }

// configText returns the pooler's configuration.
func (b *Bouncer) configText(up *pgconn.Config) string {
	var s strings.Builder
	s.WriteString("[databases]\n")
	fmt.Fprintf(&s, "%s = host=%s port=%d dbname=%s user=%s password=%s\n",
		b.database, quote(up.Host), up.Port, quote(up.Database), quote(up.User), quote(up.Password))
	s.WriteString("\n[pgbouncer]\n")
	for _, kv := range [][2]string{
		{"listen_addr", "127.0.0.1"},
		{"listen_port", strconv.Itoa(b.port)},
		{"unix_socket_dir", b.dir},
		// No client authentication: every client logs in to the server as
		// the [databases] entry's user.
		{"auth_type", "any"},
		{"pool_mode", "transaction"},
		{"max_client_conn", "500"},
		// Enough server connections for a backend's pool (16) beside a
		// test's own.
		{"default_pool_size", "40"},
		// Retry a failed server login soon (the default waits 15 s): tests
		// restart the upstream server too.
		{"server_login_retry", "1"},
		// Parameters pgx or other clients may send at startup.
		{"ignore_startup_parameters", "extra_float_digits,search_path"},
		// The log goes to stderr, which the fixture keeps in a file.
		{"syslog", "0"},
		{"log_connections", "0"},
		{"log_disconnections", "0"},
		{"stats_period", "3600"},
	} {
		fmt.Fprintf(&s, "%s = %s\n", kv[0], kv[1])
	}
	return s.String()
}

// quote quotes a value of a [databases] connection string.
func quote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// startProcess starts the pooler and waits until it serves a query. The
// caller holds b.mu.
func (b *Bouncer) startProcess(ctx context.Context) (*serverproc.Process, error) {
	p, err := serverproc.Start(serverproc.Command{
		Name: "pgbouncer",
		Path: b.bin,
		Args: []string{b.config()},
		Log:  b.log(),
		As:   b.as,
	})
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", b.DSN()+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		p.Kill()
		return nil, err
	}
	defer db.Close()
	err = serverproc.Wait(ctx, p, "serving queries", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// close stops the pooler and removes its directory.
func (b *Bouncer) close() error {
	b.mu.Lock()
	p := b.proc
	b.proc = nil
	b.mu.Unlock()
	var errs []error
	if p != nil {
		errs = append(errs, p.Stop(syscall.SIGTERM, stopTimeout))
	}
	if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
