package galeratest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// Credentials of the test database, the same on every node. The nodes
// listen on loopback only and live as long as a test binary.
const (
	user     = "statebackend"
	password = "statebackend"
	database = "statebackend"
)

// stopTimeout bounds a node's shutdown before it is killed.
const stopTimeout = time.Minute

// Cluster is a running Galera cluster of Nodes MariaDB nodes. Its methods
// are safe for concurrent use.
type Cluster struct {
	dir  string
	bins binaries
	as   *serverproc.Account

	mu    sync.Mutex // guards the nodes' processes
	nodes [Nodes]*node
}

// NodeDSNs returns the DSN of the test database on each node, in node
// order, in the go-sql-driver form
// "statebackend:statebackend@tcp(127.0.0.1:PORT)/statebackend?timeout=5s".
// The user may create and drop tables in the database, and flush tables
// (RELOAD), as the backend does when a node failed to load a table's
// triggers (see the mysql package).
func (c *Cluster) NodeDSNs() []string {
	dsns := make([]string, 0, Nodes)
	for _, n := range c.nodes {
		cfg := gomysql.NewConfig()
		cfg.User, cfg.Passwd = user, password
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
		cfg.DBName = database
		cfg.Timeout = 5 * time.Second
		dsns = append(dsns, cfg.FormatDSN())
	}
	return dsns
}

// start bootstraps node 0 from a fresh data directory, creates the
// database and user on it, and joins the other nodes one at a time (each
// copies a running node's data with rsync). On error nothing is left
// running or on disk.
func start(ctx context.Context, bins binaries) (c *Cluster, err error) {
	as, err := serverproc.ServiceAccount("mysql")
	if err != nil {
		return nil, err
	}
	dir, err := serverproc.TempDir("galeratest")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir, bins: bins, as: as}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
			c = nil
		}
	}()
	ports, err := serverproc.FreePorts(4 * Nodes)
	if err != nil {
		return c, err
	}
	var cluster []string
	for i := range c.nodes {
		p := ports[4*i:]
		c.nodes[i] = &node{index: i, dir: filepath.Join(dir, "node"+strconv.Itoa(i)),
			port: p[0], gcomm: p[1], ist: p[2], sst: p[3]}
		cluster = append(cluster, net.JoinHostPort("127.0.0.1", strconv.Itoa(p[1])))
	}
	for _, n := range c.nodes {
		// Empty: mariadb-install-db fills node 0's, the state transfer the
		// others'.
		if err := os.MkdirAll(n.dataDir(), 0o750); err != nil {
			return c, err
		}
		if err := os.MkdirAll(n.tmpDir(), 0o750); err != nil {
			return c, err
		}
		if err := n.writeConfig(cluster, bins.provider); err != nil {
			return c, err
		}
	}
	if err := as.Own(dir); err != nil {
		return c, err
	}

	first := c.nodes[0]
	// Root without a password: createDatabase keeps only root@localhost,
	// reachable through a socket only the servers' account (and root) can
	// reach.
	err = serverproc.Run(ctx, serverproc.Command{
		Name: "mariadb-install-db",
		Path: bins.installDB,
		Args: []string{"--no-defaults", "--datadir=" + first.dataDir(), "--tmpdir=" + first.tmpDir(),
			"--auth-root-authentication-method=normal",
			"--skip-test-db", "--skip-name-resolve", "--innodb-log-file-size=256M"},
		Log: filepath.Join(first.dir, "install-db.log"),
		As:  as,
	})
	if err != nil {
		return c, err
	}
	if err := c.startNode(first, true); err != nil {
		return c, err
	}
	if err := first.waitSynced(ctx, 1); err != nil {
		return c, err
	}
	if err := createDatabase(ctx, first); err != nil {
		return c, err
	}
	// One at a time: a node can give its state to one joiner at a time, and
	// two joining at once took longer than one after the other.
	for i, n := range c.nodes[1:] {
		if err := c.startNode(n, false); err != nil {
			return c, err
		}
		if err := n.waitSynced(ctx, i+2); err != nil {
			// The donor's log says why a state transfer failed.
			return c, fmt.Errorf("%w\nthe other nodes:%s", err, c.tails(20, n))
		}
	}
	return c, c.waitSynced(ctx)
}

// createDatabase creates the test database and user through n, and drops
// the passwordless root accounts mariadb-install-db made for TCP
// (root@127.0.0.1, root@::1, root@HOSTNAME), which any local user could
// use; Galera copies the changes to the other nodes.
func createDatabase(ctx context.Context, n *node) error {
	db, err := sql.Open("mysql", n.rootDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{
		"CREATE DATABASE " + database,
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", database, user),
		fmt.Sprintf("GRANT RELOAD ON *.* TO '%s'@'%%'", user),
	}
	rows, err := db.QueryContext(ctx, "SELECT QUOTE(Host) FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
	if err != nil {
		return fmt.Errorf("%s: list root accounts: %w", n.name(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		if err := rows.Scan(&host); err != nil {
			return fmt.Errorf("%s: list root accounts: %w", n.name(), err)
		}
		stmts = append(stmts, "DROP USER 'root'@"+host)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: list root accounts: %w", n.name(), err)
	}
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %s: %w", n.name(), stmt, err)
		}
	}
	return nil
}

// startNode starts n's mariadbd; bootstrap makes it found a new cluster
// instead of joining the running nodes.
func (c *Cluster) startNode(n *node, bootstrap bool) error {
	args := []string{"--defaults-file=" + n.config()}
	if bootstrap {
		args = append(args, "--wsrep-new-cluster")
	}
	p, err := serverproc.Start(serverproc.Command{
		Name: n.name(),
		Path: c.bins.mariadbd,
		Args: args,
		Log:  n.log(),
		As:   c.as,
	})
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// running returns the nodes whose mariadbd runs.
func (c *Cluster) running() []*node {
	var nodes []*node
	for _, n := range c.nodes {
		if n != nil && n.proc != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// waitSynced waits until every running node is synced in a cluster made
// of the running nodes. The caller holds c.mu or owns c alone.
func (c *Cluster) waitSynced(ctx context.Context) error {
	nodes := c.running()
	for _, n := range nodes {
		if err := n.waitSynced(ctx, len(nodes)); err != nil {
			return err
		}
	}
	return nil
}

// StopNode shuts node i (an index of NodeDSNs) down cleanly, so that it
// leaves the cluster, and returns once the other nodes run without it. It
// fails t on error, when the node is stopped, or when it is the last one
// running.
func (c *Cluster) StopNode(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(t, i)
	if n.proc == nil {
		t.Fatalf("galeratest: %s is already stopped", n.name())
	}
	if len(c.running()) == 1 {
		t.Fatalf("galeratest: %s is the last node running; a cluster needs one", n.name())
	}
	err := n.proc.Stop(syscall.SIGTERM, stopTimeout)
	n.proc = nil
	if err != nil {
		t.Fatalf("galeratest: stop %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.waitSynced(ctx); err != nil {
		t.Fatalf("galeratest: after stopping %s: %v", n.name(), err)
	}
}

// StartNode starts node i again after StopNode and returns once it has
// caught up (it receives what it missed from another node) and every node
// is synced. It fails t on error, or when the node is running.
func (c *Cluster) StartNode(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(t, i)
	if n.proc != nil {
		t.Fatalf("galeratest: %s is already running", n.name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.startNode(n, false); err != nil {
		t.Fatalf("galeratest: %v", err)
	}
	if err := c.waitSynced(ctx); err != nil {
		t.Fatalf("galeratest: after starting %s: %v", n.name(), err)
	}
}

// DatabaseDir returns the directory of the test database's files on node
// i (its tables' .frm and .TRG files), for tests of what a server does
// with damaged files.
func (c *Cluster) DatabaseDir(t testing.TB, i int) string {
	t.Helper()
	return filepath.Join(c.node(t, i).dataDir(), database)
}

// node returns node i, failing t when there is none.
func (c *Cluster) node(t testing.TB, i int) *node {
	t.Helper()
	if i < 0 || i >= Nodes {
		t.Fatalf("galeratest: no node %d (nodes are 0 to %d)", i, Nodes-1)
	}
	return c.nodes[i]
}

// logStarted tells t where the nodes are.
func (c *Cluster) logStarted(t testing.TB, took time.Duration) {
	t.Helper()
	ports := make([]int, 0, Nodes)
	for _, n := range c.nodes {
		ports = append(ports, n.port)
	}
	t.Logf("galeratest: %d nodes on 127.0.0.1 ports %v, started in %v (logs in %s)",
		Nodes, ports, took.Round(time.Millisecond), c.dir)
}

// tails returns the last n lines of every node's log but those of except.
func (c *Cluster) tails(n int, except ...*node) string {
	var s string
	for _, node := range c.nodes {
		if node != nil && !slices.Contains(except, node) {
			s += serverproc.LogTail(node.log(), n)
		}
	}
	return s
}

// close kills every node (the data is thrown away) and removes the
// directory.
func (c *Cluster) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range c.running() {
		wg.Go(n.proc.Kill)
		n.proc = nil
	}
	wg.Wait()
	return os.RemoveAll(c.dir)
}
