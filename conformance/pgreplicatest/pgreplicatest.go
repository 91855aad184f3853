// Package pgreplicatest starts a real Postgres primary with a streaming
// replica on loopback, for tests of reading from replicas: from the
// machine's own Postgres binaries (Debian's postgresql-15 by default), no
// containers.
//
// A test that stops or pauses the replica, or restarts the primary
// (RestartPrimary), starts a cluster of its own, removed when the test
// ends:
//
//	c := pgreplicatest.Start(t)
//	primary, _ := sql.Open("pgx", c.PrimaryDSN())
//	replica, _ := sql.Open("pgx", c.ReplicaDSN())
//	// write on primary, then
//	if err := c.WaitCaughtUp(ctx); err != nil { ... }
//	// the replica sees the write
//
// Tests that leave the servers alone share one cluster per test binary
// through Shared, and remove it at the end with
//
//	func TestMain(m *testing.M) { pgreplicatest.Main(m) }
//
// or by calling Terminate after m.Run.
//
// Both servers listen on 127.0.0.1 on free ports, keep their data and logs
// in a temporary directory, run without fsync and accept 300 connections;
// the replica follows the primary through a replication slot and serves
// reads (hot standby). Started by root, the servers run as the postgres
// account. Starting a cluster takes a few seconds.
//
// Without the binaries the tests are skipped with a message saying how to
// install them, or fail when STATEBACKEND_TEST_REQUIRE (comma-separated)
// names "pgreplica". Every server is stopped, and its directory removed,
// when its test (or Terminate) ends. The servers of a test binary that dies
// without that (killed, or stopped by -timeout) get a signal from the
// kernel and shut down, and the next cluster started removes their
// directory.
package pgreplicatest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// BinDirEnv names the environment variable holding the directory of the
// Postgres binaries (postgres, initdb, pg_basebackup), for a Postgres other
// than Debian's 15.
const BinDirEnv = "STATEBACKEND_TEST_PGREPLICA_BINDIR"

// DefaultBinDir is where Debian's postgresql-15 installs the binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// requireName is this fixture's name in STATEBACKEND_TEST_REQUIRE.
const requireName = "pgreplica"

const title = "Postgres primary/replica"

// startTimeout bounds starting a cluster, from initdb to a replica that has
// caught up: generous, since tests start clusters while others run, on
// machines short of CPU.
const startTimeout = 5 * time.Minute

// Start starts a cluster for t alone and removes it when t ends. It skips t
// when the binaries are missing (fails it when STATEBACKEND_TEST_REQUIRE
// names "pgreplica"), and fails t, with the end of the server log, when
// the cluster cannot start. When t has failed, the end of both server logs
// is logged before they are removed.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if reason := unavailable(); reason != "" {
		serverproc.Unavailable(t, requireName, title, reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	began := time.Now()
	c, err := serverproc.StartOnFreePorts(func() (*Cluster, error) { return start(ctx) })
	if err != nil {
		t.Fatalf("pgreplicatest: %v", err)
	}
	c.logStarted(t, time.Since(began))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgreplicatest: server logs%s%s", c.primaryTail(20), c.replicaTail(20))
		}
		if err := c.close(); err != nil {
			t.Errorf("pgreplicatest: %v", err)
		}
	})
	return c
}

// shared is the cluster of Shared, one per test binary.
var shared serverproc.Shared[*Cluster]

// Shared returns the test binary's shared cluster, started on first use;
// Terminate (or Main) removes it. It skips or fails t as Start does. Tests
// using it may run in parallel, so none may stop or pause its replica, nor
// restart its primary: a test that does starts a cluster of its own.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	return shared.Get(t, "pgreplicatest", requireName, title, func() (*Cluster, string, error) {
		if skip := unavailable(); skip != "" {
			return nil, skip, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		began := time.Now()
		c, err := serverproc.StartOnFreePorts(func() (*Cluster, error) { return start(ctx) })
		if err == nil {
			c.logStarted(t, time.Since(began))
		}
		return c, "", err
	})
}

// Terminate stops the shared cluster, if Shared started one, and removes
// its directory. Call it after m.Run in TestMain (or use Main).
func Terminate() error {
	c, ok := shared.Take()
	if !ok || c == nil {
		return nil
	}
	return c.close()
}

// Main runs the tests of m, terminates the shared cluster and exits.
func Main(m *testing.M) { serverproc.Main(m, "pgreplicatest", Terminate) }

// binDir returns the directory of the Postgres binaries.
func binDir() string {
	if dir := strings.TrimSpace(os.Getenv(BinDirEnv)); dir != "" {
		return dir
	}
	return DefaultBinDir
}

// unavailable returns why no cluster can start here, with how to fix it,
// or "" when one can.
func unavailable() string {
	dir := binDir()
	for _, tool := range []string{"postgres", "initdb", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			return fmt.Sprintf("%s not found. To run them, install Debian's postgresql-15 "+
				"(as root: bash .ci/scaleout.sh), or set %s to the bin directory of Postgres 15 or later",
				filepath.Join(dir, tool), BinDirEnv)
		}
	}
	if _, err := serverproc.ServiceAccount("postgres"); err != nil {
		return err.Error() + ". Install Debian's postgresql-15 (as root: bash .ci/scaleout.sh), which creates it"
	}
	return ""
}
