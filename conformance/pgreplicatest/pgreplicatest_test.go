package pgreplicatest_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/taskstate/statebackend/conformance/pgreplicatest"
)

func TestMain(m *testing.M) { pgreplicatest.Main(m) }

// open opens a pool on dsn, closed when t ends.
func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// count returns the number of rows of table items with name on db.
func count(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM items WHERE name = $1", name).Scan(&n); err != nil {
		t.Fatalf("count %q: %v", name, err)
	}
	return n
}

func insert(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), "INSERT INTO items (name) VALUES ($1)", name); err != nil {
		t.Fatalf("insert %q: %v", name, err)
	}
}

// createItems creates table items on the primary and waits for the replica
// to have it.
func createItems(t *testing.T, c *pgreplicatest.Cluster, primary *sql.DB) {
	t.Helper()
	if _, err := primary.ExecContext(t.Context(), "CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestReplicaReadsPrimaryWrites(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Shared(t)
	primary, replica := open(t, c.PrimaryDSN()), open(t, c.ReplicaDSN())
	createItems(t, c, primary)

	// A name of this run's own: the shared cluster keeps the rows of
	// earlier runs (go test -count).
	name := "replicated " + rand.Text()
	insert(t, primary, name)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, replica, name); n != 1 {
		t.Fatalf("replica has %d rows of the primary's write after WaitCaughtUp, want 1", n)
	}
	lag, err := c.Lag(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lag after catching up: %+v", lag)

	_, err = replica.ExecContext(t.Context(), "INSERT INTO items (name) VALUES ('on the replica')")
	if err == nil {
		t.Fatal("the replica accepted a write")
	}
	t.Logf("a write on the replica fails: %v", err)
}

func TestPausedReplayHidesNewRows(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	primary, replica := open(t, c.PrimaryDSN()), open(t, c.ReplicaDSN())
	createItems(t, c, primary)

	c.PauseReplay(t)
	insert(t, primary, "while paused")
	first, err := c.Lag(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.Bytes == 0 {
		t.Fatalf("lag %+v while replay is paused after a write, want some bytes", first)
	}
	if n := count(t, replica, "while paused"); n != 0 {
		t.Fatalf("replica has %d rows written while replay was paused, want 0", n)
	}
	if err := c.WaitCaughtUp(t.Context()); err == nil {
		t.Fatal("WaitCaughtUp succeeded while replay is paused")
	}

	// The lag grows with the wall clock while replay stays paused; the
	// deadline is generous, for a machine short of CPU.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		lag, err := c.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lag.Time > first.Time && lag.Bytes >= first.Bytes {
			t.Logf("lag grew from %+v to %+v", first, lag)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("lag stayed at %+v (first %+v) for 2 minutes while replay was paused", lag, first)
		case <-ticker.C:
		}
	}

	c.ResumeReplay(t)
	if err := c.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, replica, "while paused"); n != 1 {
		t.Fatalf("replica has %d rows written while replay was paused after resuming, want 1", n)
	}
	lag, err := c.Lag(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lag after resuming and catching up: %+v", lag)
}

func TestStoppedReplicaRefusesConnections(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	primary, replica := open(t, c.PrimaryDSN()), open(t, c.ReplicaDSN())
	createItems(t, c, primary)
	if err := replica.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}

	c.StopReplica(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stopped := open(t, c.ReplicaDSN()) // a new pool: no connection left from before
	if err := stopped.PingContext(ctx); err == nil {
		t.Fatal("the stopped replica accepted a connection")
	} else {
		t.Logf("connecting to the stopped replica: %v", err)
	}
	if err := c.WaitCaughtUp(ctx); err == nil {
		t.Fatal("WaitCaughtUp succeeded with the replica stopped")
	}
	if _, err := c.Lag(ctx); err == nil {
		t.Fatal("Lag succeeded with the replica stopped")
	}
	insert(t, primary, "while stopped")

	c.StartReplica(t)
	if n := count(t, replica, "while stopped"); n != 1 {
		t.Fatalf("replica has %d rows written while it was stopped, want 1", n)
	}
}

func TestWaitCaughtUpHonoursContext(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Shared(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.WaitCaughtUp(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitCaughtUp with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestRestartPrimary checks that a restarted primary, after a fast or an
// immediate shutdown, keeps what committed, closed the connections opened
// before, serves new ones on the same DSN, and that the replica follows
// it again.
func TestRestartPrimary(t *testing.T) {
	t.Parallel()
	c := pgreplicatest.Start(t)
	replica := open(t, c.ReplicaDSN())
	createItems(t, c, open(t, c.PrimaryDSN()))
	for _, mode := range []pgreplicatest.Shutdown{pgreplicatest.Fast, pgreplicatest.Immediate} {
		// A pool of its own: one whose connections the restart closed
		// returns an error for each before it replaces it.
		primary := open(t, c.PrimaryDSN())
		name := fmt.Sprintf("before restart %d", mode)
		insert(t, primary, name)
		conn, err := primary.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.RestartPrimary(t, mode)
		if _, err := conn.ExecContext(t.Context(), "SELECT 1"); err == nil {
			t.Fatalf("shutdown %d: a connection opened before the restart still works", mode)
		}
		conn.Close()
		primary = open(t, c.PrimaryDSN())
		if n := count(t, primary, name); n != 1 {
			t.Fatalf("shutdown %d: %d rows committed before the restart, want 1", mode, n)
		}
		insert(t, primary, name+", after")
		if err := c.WaitCaughtUp(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := count(t, replica, name+", after"); n != 1 {
			t.Fatalf("shutdown %d: the replica has %d rows written after the restart, want 1", mode, n)
		}
	}
}
