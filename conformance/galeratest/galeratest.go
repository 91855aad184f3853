// Package galeratest starts a real three-node MariaDB Galera cluster on
// loopback, for tests against a multi-primary database: from the machine's
// own MariaDB (Debian's mariadb-server 10.11) and Galera (galera-4)
// packages, no containers.
//
// The cluster is slow to start (the second and third nodes each copy the
// first one's data directory), so tests share one per test binary, and the
// package removes it at the end with
//
//	func TestMain(m *testing.M) { galeratest.Main(m) }
//
// or by calling Terminate after m.Run. A test that must not share one calls
// Start, and gets a cluster removed when it ends.
//
//	c := galeratest.Shared(t)
//	dsns := c.NodeDSNs() // one per node: "statebackend:statebackend@tcp(127.0.0.1:PORT)/statebackend?timeout=5s"
//	node0, _ := sql.Open("mysql", dsns[0])
//
// Every node accepts writes. Galera certifies a transaction on every node
// when it commits and applies it on the others right after: a read through
// another node sees it once that node has applied it, at once with the
// session setting wsrep_sync_wait=1. Of two transactions that change the
// same row through different nodes, the one that commits second fails with
// MySQL error 1213 (ER_LOCK_DEADLOCK), at its COMMIT or, when the winner's
// change reached its node first, at its next statement.
//
// The nodes listen on 127.0.0.1 on free ports (port 3306 may be in use),
// keep their data in a temporary directory, replicate row-based with
// InnoDB, copy state with rsync, and are configured for the conformance
// suite: max_allowed_packet=256M, innodb_log_file_size=256M,
// max_connections=300, character-set-server=utf8mb4. Started by root, they
// run as the mysql account.
//
// Without the packages the tests are skipped with a message saying how to
// install them, or fail when STATEBACKEND_TEST_REQUIRE (comma-separated)
// names "galera". Every node is stopped, and the directory removed, when
// its test (or Terminate) ends. The nodes of a test binary that dies
// without that (killed, or stopped by -timeout) are killed by the kernel,
// and the next cluster started removes their directory.
package galeratest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// Nodes is the number of nodes of a cluster.
const Nodes = 3

// ProviderEnv names the environment variable holding the path of the
// Galera library, for one installed elsewhere than Debian's.
const ProviderEnv = "STATEBACKEND_TEST_GALERA_PROVIDER"

// DefaultProvider is where Debian's galera-4 installs the Galera library.
const DefaultProvider = "/usr/lib/galera/libgalera_smm.so"

// requireName is this fixture's name in STATEBACKEND_TEST_REQUIRE.
const requireName = "galera"

const title = "MariaDB Galera"

// startTimeout bounds starting a cluster, from the first node's data
// directory to three synced nodes.
const startTimeout = 5 * time.Minute

// startAttempts bounds how often a cluster is started from scratch.
const startAttempts = 2

// startCluster starts a cluster on free ports, from scratch once more
// when a node exited before it was synced: now and then a joining node
// of a healthy cluster aborts during its state transfer, on a quiet
// machine too. A node that cannot start at all exits in both attempts.
func startCluster(ctx context.Context, bins binaries) (*Cluster, error) {
	for attempt := 1; ; attempt++ {
		c, err := serverproc.StartOnFreePorts(func() (*Cluster, error) { return start(ctx, bins) })
		if err == nil || attempt == startAttempts || !errors.Is(err, serverproc.ErrExited) || ctx.Err() != nil {
			return c, err
		}
	}
}

// Start starts a cluster for t alone and removes it when t ends. It skips t
// when the packages are missing (fails it when STATEBACKEND_TEST_REQUIRE
// names "galera"), and fails t, with the end of the failing node's log,
// when the cluster cannot start. When t has failed, the end of every node's
// log is logged before they are removed.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins, reason := findBinaries()
	if reason != "" {
		serverproc.Unavailable(t, requireName, title, reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	began := time.Now()
	c, err := startCluster(ctx, bins)
	if err != nil {
		t.Fatalf("galeratest: %v", err)
	}
	c.logStarted(t, time.Since(began))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("galeratest: node logs%s", c.tails(20))
		}
		if err := c.close(); err != nil {
			t.Errorf("galeratest: %v", err)
		}
	})
	return c
}

// shared is the cluster of Shared, one per test binary.
var shared serverproc.Shared[*Cluster]

// Shared returns the test binary's shared cluster, started on first use;
// Terminate (or Main) removes it. It skips or fails t as Start does. A test
// that stops a node of it must not run in parallel with others using it,
// and must start the node again.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	return shared.Get(t, "galeratest", requireName, title, func() (*Cluster, string, error) {
		bins, skip := findBinaries()
		if skip != "" {
			return nil, skip, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		began := time.Now()
		c, err := startCluster(ctx, bins)
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
func Main(m *testing.M) { serverproc.Main(m, "galeratest", Terminate) }

// binaries are the programs a cluster runs.
type binaries struct {
	mariadbd  string
	installDB string // mariadb-install-db
	provider  string // the Galera library
}

// findBinaries locates the programs a cluster needs; reason says what is
// missing and how to install it, "" when nothing is.
func findBinaries() (bins binaries, reason string) {
	const install = "To run them, install Debian's mariadb-server, galera-4 and rsync (as root: bash .ci/scaleout.sh)"
	var missing []string
	look := func(name string, dirs ...string) string {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
		// /usr/sbin is not on every user's PATH.
		for _, dir := range dirs {
			if _, err := os.Stat(dir + "/" + name); err == nil {
				return dir + "/" + name
			}
		}
		missing = append(missing, name)
		return ""
	}
	bins.mariadbd = look("mariadbd", "/usr/sbin")
	bins.installDB = look("mariadb-install-db", "/usr/bin")
	// The state transfer: mariadbd runs the script, the script runs rsync.
	look("wsrep_sst_rsync", "/usr/bin")
	look("rsync", "/usr/bin")
	bins.provider = DefaultProvider
	if p := strings.TrimSpace(os.Getenv(ProviderEnv)); p != "" {
		bins.provider = p
	}
	if _, err := os.Stat(bins.provider); err != nil {
		missing = append(missing, bins.provider+" (or set "+ProviderEnv+")")
	}
	if len(missing) > 0 {
		return bins, fmt.Sprintf("not found: %s. %s", strings.Join(missing, ", "), install)
	}
	if _, err := serverproc.ServiceAccount("mysql"); err != nil {
		return bins, fmt.Sprintf("%v. %s, which creates it", err, install)
	}
	return bins, ""
}
