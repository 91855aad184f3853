package reliability_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
)

// serverDB is a database server reached through a proxy of the test's
// own.
type serverDB struct {
	name string
	dsn  func(t testing.TB) string // of the shared test server
	// via returns the server's host:port and dsn rewritten to reach it
	// through addr instead.
	via  func(t *testing.T, dsn, addr string) (upstream, proxied string)
	open func(dsn string) gorm.Dialector
}

var serverDBs = []serverDB{
	{
		name: "Postgres",
		dsn:  pgtest.DSN,
		via: func(t *testing.T, dsn, addr string) (string, string) {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			upstream := u.Host
			u.Host = addr
			return upstream, u.String()
		},
		open: func(dsn string) gorm.Dialector { return postgres.Open(dsn) },
	},
	{
		name: "MySQL",
		dsn:  mysqltest.DSN,
		via: func(t *testing.T, dsn, addr string) (string, string) {
			cfg, err := gomysql.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			upstream := cfg.Addr
			cfg.Addr = addr
			return upstream, cfg.FormatDSN()
		},
		open: func(dsn string) gorm.Dialector { return mysql.Open(dsn) },
	},
}

// openVia opens a backend for a new app on db through a new proxy, with
// extra DSN parameters (go-sql-driver form, MySQL only) and options.
func (db serverDB) openVia(t *testing.T, params string, opts ...statebackend.Option) (statebackend.Backend, *proxy) {
	t.Helper()
	dsn := db.dsn(t)
	upstream, _ := db.via(t, dsn, "")
	p := startProxy(t, upstream)
	_, proxied := db.via(t, dsn, p.Addr())
	if params != "" {
		proxied += map[bool]string{true: "&", false: "?"}[strings.Contains(proxied, "?")] + params
	}
	opts = append([]statebackend.Option{statebackend.WithAppID(conformance.NewAppID())}, opts...)
	b, err := statebackend.Open(db.open(proxied), opts...)
	if err != nil {
		t.Fatalf("%s through a proxy: %v", db.name, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, p
}

// TestStalledServer proves, on Postgres and MySQL/MariaDB, that a server
// that stops answering cannot hold a call past its deadline: for a
// 600-row upsert and a 600-id AddHistory (multi-statement transactions),
// Purge and a read, with the server's replies withheld from the start of
// the call, and, for the writes, from the moment COMMIT was sent (the
// server commits, but the client never hears of it). Each call must
// return, with the op prefix and context.DeadlineExceeded, while the
// server is still silent: only its deadline can have ended it. Afterwards the backend works again through
// new connections, and the write is all or nothing: not there when the
// server never saw COMMIT; when it did, either (the outcome of a failed
// call, logged).
func TestStalledServer(t *testing.T) {
	t.Parallel()
	const rows = 600
	const timeout = time.Second
	ops := writeOps(rows)
	byName := map[string]writeOp{}
	for _, op := range ops {
		byName[op.name] = op
	}
	read := writeOp{
		name: "Invocation",
		write: func(ctx context.Context, b statebackend.Backend, key string) error {
			_, err := b.Invocation(ctx, statebackend.InvocationID(key+"-0000"))
			return err
		},
	}
	cases := []struct {
		op          writeOp
		afterCommit bool // stall once COMMIT was sent; else at once
	}{
		{byName["UpsertInvocations"], false},
		{byName["UpsertInvocations"], true},
		{byName["AddHistory"], false},
		{byName["AddHistory"], true},
		{byName["Purge"], false},
		{byName["Purge"], true},
		{read, false},
	}
	for _, db := range serverDBs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			db.dsn(t) // skip (or fail) once, here, without a server
			for _, c := range cases {
				name := c.op.name + map[bool]string{true: "/after_commit", false: "/at_once"}[c.afterCommit]
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ctx := t.Context()
					b, p := db.openVia(t, "")
					if err := preparePurge(ctx, b); err != nil {
						t.Fatal(err)
					}
					if c.op.name == "Invocation" {
						if err := byName["UpsertInvocations"].write(ctx, b, "stalled"); err != nil {
							t.Fatal(err)
						}
					}
					if c.afterCommit {
						p.StallAfter([]byte("COMMIT"))
					} else {
						p.Stall()
					}
					cctx, cancel := context.WithTimeout(ctx, timeout)
					start := time.Now()
					err := c.op.write(cctx, b, "stalled")
					cancel()
					over := checkDeadlineError(t, c.op.name, err, start, timeout)
					t.Logf("%s, %s: returned %v past its %v deadline", db.name, name, over.Round(time.Millisecond), timeout)
					p.Resume()
					if c.op.state == nil {
						return
					}
					written, err := c.op.state(ctx, b, "stalled")
					if err != nil {
						t.Fatalf("after the stall: %v", err)
					}
					if !c.afterCommit && written {
						t.Errorf("the server never answered BEGIN, yet the write is there")
					}
					t.Logf("%s, %s: write committed: %v", db.name, name, written)
				})
			}
		})
	}
}

// TestMySQLReadTimeoutWithoutDeadline proves the backstop for calls
// without a deadline: with readTimeout=1s in the DSN, a read and a
// transaction's COMMIT facing a silent server fail, after about a second,
// instead of waiting forever. The server stays silent until the call has
// returned; a call still waiting after stuckAfter has no backstop.
func TestMySQLReadTimeoutWithoutDeadline(t *testing.T) {
	t.Parallel()
	db := serverDBs[1]
	const readTimeout = time.Second
	// stuckAfter is far above readTimeout, for a machine short of CPU, and
	// far below forever.
	const stuckAfter = 2 * time.Minute
	ops := writeOps(600)
	for _, c := range []struct {
		name        string
		afterCommit bool
		call        func(context.Context, statebackend.Backend) error
	}{
		{"read", false, func(ctx context.Context, b statebackend.Backend) error {
			_, err := b.Result(ctx, purgeKey)
			return err
		}},
		{"commit", true, func(ctx context.Context, b statebackend.Backend) error {
			return ops[0].write(ctx, b, "no-deadline")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, p := db.openVia(t, "readTimeout="+readTimeout.String())
			if c.afterCommit {
				p.StallAfter([]byte("COMMIT"))
			} else {
				p.Stall()
			}
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- c.call(context.Background(), b) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(stuckAfter):
				p.Resume() // lets the call return before the backend closes
				t.Fatalf("%s without a deadline still waiting for a silent server after %v, readTimeout %v", c.name, stuckAfter, readTimeout)
			}
			if err == nil {
				t.Fatal("a call facing a silent server succeeded")
			}
			t.Logf("%s without a deadline: %v after %v", c.name, err, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestMySQLDriverLogsThroughWithLogger proves that what go-sql-driver/mysql
// says about broken connections goes to the backend's logger, not to
// stderr: connections cut under the pool are reported there.
func TestMySQLDriverLogsThroughWithLogger(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	b, p := serverDBs[1].openVia(t, "", statebackend.WithLogger(logger))
	ctx := t.Context()
	if err := preparePurge(ctx, b); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	// The pool finds its idle connection dead, says so, and reconnects.
	if _, err := b.Result(ctx, purgeKey); err != nil {
		t.Fatalf("read after the connections were cut: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "mysql driver: ") {
		t.Errorf("nothing from the driver in the backend's log:\n%s", out)
	} else {
		t.Logf("driver messages in the backend's log:\n%s", out)
	}
}
