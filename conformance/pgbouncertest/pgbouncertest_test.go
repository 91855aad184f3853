package pgbouncertest_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
	"github.com/taskstate/statebackend/conformance/pgbouncertest"
	"github.com/taskstate/statebackend/conformance/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a pool through b, closed when t ends.
func open(t *testing.T, b *pgbouncertest.Bouncer) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", b.DSN()+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// backendPID returns the pid of the server process that runs a statement
// of conn.
func backendPID(t *testing.T, conn interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) int {
	t.Helper()
	var pid int
	if err := conn.QueryRowContext(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestTransactionMode checks that a client holds a server connection only
// for a statement or a transaction: once client A's statement has ended,
// client B's transaction runs on the server connection A used (the only
// idle one), which session pooling would keep for A.
func TestTransactionMode(t *testing.T) {
	t.Parallel()
	b := pgbouncertest.Start(t, pgtest.DSN(t))
	db := open(t, b)
	ctx := t.Context()
	a, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pidA := backendPID(t, a)
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if pidB := backendPID(t, tx); pidB != pidA {
		t.Fatalf("client B's transaction runs on server process %d, client A's statement ran on %d: not transaction pooling", pidB, pidA)
	}
}

// TestRestart checks that Restart closes the connections through the
// pooler and that it serves new ones on the same address.
func TestRestart(t *testing.T) {
	t.Parallel()
	b := pgbouncertest.Start(t, pgtest.DSN(t))
	dsn := b.DSN()
	db := open(t, b)
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	backendPID(t, conn)
	b.Restart(t)
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection opened before the restart still works")
	}
	if b.DSN() != dsn {
		t.Fatalf("the DSN changed from %s to %s", dsn, b.DSN())
	}
	backendPID(t, db)
}

// TestMissingBinary checks the message of a skip without the binary, and
// that STATEBACKEND_TEST_REQUIRE turns it into a failure.
func TestMissingBinary(t *testing.T) {
	t.Setenv(pgbouncertest.BinaryEnv, "/nonexistent/pgbouncer")
	for _, required := range []bool{false, true} {
		env := ""
		if required {
			env = "postgres,pgbouncer"
		}
		t.Setenv(serverproc.RequireEnv, env)
		rec := &recorder{TB: t}
		done := make(chan struct{})
		// A goroutine of its own, which the recorder's Skipf and Fatalf end.
		go func() {
			defer close(done)
			pgbouncertest.Start(rec, "postgres://u:p@127.0.0.1:1/db")
		}()
		<-done
		skipped, failed, msg := rec.skipped, rec.failed, rec.msg
		switch {
		case !required && !skipped:
			t.Errorf("without %s: not skipped (failed: %v, %q)", serverproc.RequireEnv, failed, msg)
		case required && !failed:
			t.Errorf("with %s=%s: not failed (skipped: %v, %q)", serverproc.RequireEnv, env, skipped, msg)
		case !strings.Contains(msg, "install Debian's pgbouncer"):
			t.Errorf("the message does not say how to install it: %q", msg)
		}
	}
}

// recorder is a testing.TB whose Skipf and Fatalf record what they were
// told and end the goroutine, leaving the test itself alone.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
