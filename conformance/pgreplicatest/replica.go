package pgreplicatest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds the waits of the replica's methods whose context has
// no deadline of its own.
const waitTimeout = time.Minute

// errReplicaStopped is returned by Lag and WaitCaughtUp between
// StopReplica and StartReplica.
var errReplicaStopped = errors.New("pgreplicatest: the replica is stopped")

// ReplayLag is how far the replica's replay is behind the primary.
type ReplayLag struct {
	// Bytes of WAL the primary had written that the replica had not
	// replayed; 0 when it had replayed everything.
	Bytes int64
	// Time since the last transaction the replica replayed committed on the
	// primary, by the replica's clock (the same machine's); 0 when Bytes is
	// 0. While replay is paused or slow it grows with the wall clock, as a
	// monitoring system would see it.
	Time time.Duration
}

// Lag returns how far the replica's replay is behind the primary's WAL as
// of the call. It fails with an error while the replica is stopped.
func (c *Cluster) Lag(ctx context.Context) (ReplayLag, error) {
	replica, err := c.replicaDB()
	if err != nil {
		return ReplayLag{}, err
	}
	var lsn string
	if err := c.primaryDB().QueryRowContext(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return ReplayLag{}, fmt.Errorf("pgreplicatest: primary WAL position: %w", err)
	}
	var lag ReplayLag
	var seconds float64
	err = replica.QueryRowContext(ctx, `
		SELECT greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint,
		       CASE WHEN pg_last_wal_replay_lsn() >= $1::pg_lsn THEN 0
		            ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)
		       END::float8`, lsn).Scan(&lag.Bytes, &seconds)
	if err != nil {
		return ReplayLag{}, fmt.Errorf("pgreplicatest: replica replay position: %w", err)
	}
	lag.Time = time.Duration(seconds * float64(time.Second))
	return lag, nil
}

// WaitCaughtUp returns once the replica has replayed everything the
// primary had written when it was called: every transaction committed on
// the primary before the call is then visible on the replica. It fails
// when ctx ends first (after a minute when ctx has no deadline), while
// replay is paused, or while the replica is stopped.
func (c *Cluster) WaitCaughtUp(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitTimeout)
		defer cancel()
	}
	replica, err := c.replicaDB()
	if err != nil {
		return err
	}
	var lsn string
	if err := c.primaryDB().QueryRowContext(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return fmt.Errorf("pgreplicatest: primary WAL position: %w", err)
	}
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		var caughtUp bool
		var pause string
		err := replica.QueryRowContext(ctx,
			"SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn, pg_get_wal_replay_pause_state()", lsn).Scan(&caughtUp, &pause)
		switch {
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("pgreplicatest: replica replay position: %w%s", err, c.replicaTail(20))
		case err == nil && caughtUp:
			return nil
		case err == nil && pause != "not paused":
			return fmt.Errorf("pgreplicatest: wait for the replica to replay up to %s: replay is paused (%s)", lsn, pause)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgreplicatest: wait for the replica to replay up to %s: %w%s", lsn, ctx.Err(), c.replicaTail(20))
		case <-ticker.C:
		}
	}
}

// PauseReplay pauses the replica's replay, so that nothing written on the
// primary from now on shows on the replica until ResumeReplay; the replica
// keeps receiving WAL and serving reads. It fails t on error.
func (c *Cluster) PauseReplay(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	replica, err := c.replicaDB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.ExecContext(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatalf("pgreplicatest: pause replay: %v", err)
	}
	// The request takes effect when the startup process next looks at it,
	// within milliseconds, even with no WAL to replay.
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		var state string
		if err := replica.QueryRowContext(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			t.Fatalf("pgreplicatest: pause replay: %v", err)
		}
		if state == "paused" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pgreplicatest: pause replay: still %q after %v%s", state, waitTimeout, c.replicaTail(20))
		case <-ticker.C:
		}
	}
}

// ResumeReplay resumes the replica's replay after PauseReplay. It returns
// at once; WaitCaughtUp waits for the replica to catch up. It fails t on
// error.
func (c *Cluster) ResumeReplay(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	replica, err := c.replicaDB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.ExecContext(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatalf("pgreplicatest: resume replay: %v", err)
	}
}

// StopReplica shuts the replica down (a fast shutdown: open connections
// are closed) and returns once it has exited: ReplicaDSN then refuses
// connections. It fails t on error, or when the replica is already
// stopped.
func (c *Cluster) StopReplica(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replica == nil {
		t.Fatal(errReplicaStopped)
	}
	_ = c.replicaAdmin.Close()
	err := c.replica.Stop(syscall.SIGINT, stopTimeout)
	c.replica, c.replicaAdmin = nil, nil
	if err != nil {
		t.Fatalf("pgreplicatest: stop the replica: %v", err)
	}
}

// StartReplica starts the replica again after StopReplica and returns once
// it has caught up with the primary. It fails t on error, or when the
// replica is running.
func (c *Cluster) StartReplica(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.startReplica(ctx); err != nil {
		t.Fatalf("pgreplicatest: %v", err)
	}
}

// startReplica starts the replica server and waits until it has caught up.
func (c *Cluster) startReplica(ctx context.Context) error {
	c.mu.Lock()
	if c.replica != nil {
		c.mu.Unlock()
		return errors.New("the replica is already running")
	}
	p, err := c.startServer("replica", c.replicaPort)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	db, err := c.waitServer(ctx, p, c.replicaPort, true)
	if err != nil {
		_ = p.Stop(syscall.SIGQUIT, stopTimeout)
		c.mu.Unlock()
		return err
	}
	c.replica, c.replicaAdmin = p, db
	c.mu.Unlock()
	// A transaction for the replica to replay, so that it has a replay
	// timestamp (see ReplayLag.Time) from the start.
	if _, err := c.primaryDB().ExecContext(ctx, "SELECT txid_current()"); err != nil {
		return fmt.Errorf("primary: %w", err)
	}
	return c.WaitCaughtUp(ctx)
}

// primaryDB returns the superuser pool of the primary.
func (c *Cluster) primaryDB() *sql.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.primaryAdmin
}

// replicaDB returns the superuser pool of the running replica.
func (c *Cluster) replicaDB() (*sql.DB, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replicaAdmin == nil {
		return nil, errReplicaStopped
	}
	return c.replicaAdmin, nil
}
