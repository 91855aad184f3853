package pgreplicatest

import (
	"context"
	"syscall"
	"testing"
)

// Shutdown is how RestartPrimary stops the primary.
type Shutdown int

const (
	// Fast is Postgres' fast shutdown (SIGINT): transactions in flight
	// are rolled back, every client is disconnected, and a checkpoint is
	// written before the server exits.
	Fast Shutdown = iota
	// Immediate is Postgres' immediate shutdown (SIGQUIT), as after a
	// crash: the server exits at once and recovers from its write-ahead
	// log when it starts. A transaction whose COMMIT was under way either
	// committed or did not; its client cannot tell.
	Immediate
)

// RestartPrimary stops the primary the way mode says and starts it again
// on the same port with the same data, returning once it accepts
// connections; PrimaryDSN stays valid, every connection opened before is
// closed. The replica reconnects by itself. It fails t on error.
func (c *Cluster) RestartPrimary(t testing.TB, mode Shutdown) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	sig := syscall.SIGINT
	if mode == Immediate {
		sig = syscall.SIGQUIT
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.primary == nil {
		t.Fatal("pgreplicatest: RestartPrimary: the cluster is closed")
	}
	err := c.primary.Stop(sig, stopTimeout)
	c.primary = nil
	if err != nil {
		t.Fatalf("pgreplicatest: stop the primary: %v", err)
	}
	p, err := c.startServer("primary", c.primaryPort)
	if err != nil {
		t.Fatalf("pgreplicatest: start the primary again: %v", err)
	}
	c.primary = p
	// A new admin pool: the old one's connections were closed, and a pool
	// returns such a connection's error before it replaces it.
	db, err := c.waitServer(ctx, p, c.primaryPort, false)
	if err != nil {
		t.Fatalf("pgreplicatest: start the primary again: %v", err)
	}
	_ = c.primaryAdmin.Close()
	c.primaryAdmin = db
}
