package galeratest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// node is one mariadbd of a cluster.
type node struct {
	index int
	dir   string // its configuration, data directory, socket and log
	port  int    // SQL clients
	gcomm int    // group communication
	ist   int    // incremental state transfer (receiving)
	sst   int    // full state transfer: the rsync daemon of a joining node
	proc  *serverproc.Process
}

func (n *node) name() string    { return "node" + strconv.Itoa(n.index) }
func (n *node) config() string  { return filepath.Join(n.dir, "my.cnf") }
func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }
func (n *node) tmpDir() string  { return filepath.Join(n.dir, "tmp") }
func (n *node) socket() string  { return filepath.Join(n.dir, "mariadbd.sock") }
func (n *node) log() string     { return filepath.Join(n.dir, "mariadbd.log") }

// writeConfig writes the node's option file; cluster lists every node's
// group communication address.
func (n *node) writeConfig(cluster []string, provider string) error {
	options := []string{
		"datadir=" + n.dataDir(),
		// A temporary directory of its own: a starting mariadbd deletes
		// every "#sql" file in its tmpdir, left from its last run as it
		// assumes, including the live temporary tables of every other
		// server sharing that directory (another node, another cluster).
		"tmpdir=" + n.tmpDir(),
		"socket=" + n.socket(),
		"pid-file=" + filepath.Join(n.dir, "mariadbd.pid"),
		"port=" + strconv.Itoa(n.port),
		"bind-address=127.0.0.1",
		"skip-name-resolve",
		// The conformance suite stores 64 MiB payloads; InnoDB wants the redo
		// log well above the largest row.
		"max_allowed_packet=256M",
		"innodb_log_file_size=256M",
		"max_connections=300",
		"character-set-server=utf8mb4",
		// A case-insensitive default, as most servers have, so that tests
		// prove the schema itself makes ids byte-exact.
		"collation-server=utf8mb4_general_ci",
		// A throwaway cluster: durability does not matter, speed does.
		"innodb_flush_log_at_trx_commit=0",
		"innodb_doublewrite=0",
		"innodb_buffer_pool_size=128M",
		// Galera counts as binary logging: creating triggers (schema
		// version 3) without SUPER needs this, as on any replicated
		// MariaDB or MySQL.
		"log_bin_trust_function_creators=1",
		// What Galera requires.
		"binlog_format=ROW",
		"default_storage_engine=InnoDB",
		"innodb_autoinc_lock_mode=2",
		"wsrep_on=ON",
		"wsrep_provider=" + provider,
		"wsrep_cluster_name=statebackend-test",
		"wsrep_cluster_address=gcomm://" + strings.Join(cluster, ","),
		"wsrep_node_name=" + n.name(),
		// Every node on one address: each gets its own ports.
		fmt.Sprintf("wsrep_node_address=127.0.0.1:%d", n.gcomm),
		fmt.Sprintf("wsrep_node_incoming_address=127.0.0.1:%d", n.port),
		fmt.Sprintf("wsrep_provider_options=\"gmcast.listen_addr=tcp://127.0.0.1:%d; ist.recv_addr=127.0.0.1:%d; gcache.size=64M\"",
			n.gcomm, n.ist),
		"wsrep_sst_method=rsync",
		fmt.Sprintf("wsrep_sst_receive_address=127.0.0.1:%d", n.sst),
	}
	text := "# Written by galeratest.\n[mariadbd]\n" + strings.Join(options, "\n") + "\n"
	return os.WriteFile(n.config(), []byte(text), 0o644)
}

// rootDSN returns the DSN of root over the node's socket. Root has no
// password, and no account over TCP (see createDatabase); the socket is in
// a directory only the servers' account (and root) may enter.
func (n *node) rootDSN() string {
	cfg := gomysql.NewConfig()
	cfg.User = "root"
	cfg.Net, cfg.Addr = "unix", n.socket()
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// wsrepStatus is what a node says of its place in the cluster.
type wsrepStatus struct {
	ready   bool   // wsrep_ready: it accepts queries
	state   string // wsrep_local_state_comment: "Synced" once caught up
	primary bool   // wsrep_cluster_status: it is in the primary component
	size    int    // wsrep_cluster_size
}

func (s wsrepStatus) String() string {
	return fmt.Sprintf("wsrep_ready=%v wsrep_local_state_comment=%s primary=%v wsrep_cluster_size=%d",
		s.ready, s.state, s.primary, s.size)
}

// status asks the node, as root, for its wsrep status.
func (n *node) status(ctx context.Context) (wsrepStatus, error) {
	db, err := sql.Open("mysql", n.rootDSN())
	if err != nil {
		return wsrepStatus{}, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN "+
		"('wsrep_ready', 'wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_cluster_size')")
	if err != nil {
		return wsrepStatus{}, err
	}
	defer rows.Close()
	var s wsrepStatus
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return wsrepStatus{}, err
		}
		switch strings.ToLower(name) {
		case "wsrep_ready":
			s.ready = value == "ON"
		case "wsrep_local_state_comment":
			s.state = value
		case "wsrep_cluster_status":
			s.primary = value == "Primary"
		case "wsrep_cluster_size":
			s.size, _ = strconv.Atoi(value)
		}
	}
	return s, rows.Err()
}

// waitSynced waits until the node is ready and synced in a primary
// component of size nodes.
func (n *node) waitSynced(ctx context.Context, size int) error {
	return serverproc.Wait(ctx, n.proc, fmt.Sprintf("synced in a cluster of %d", size), func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := n.status(ctx)
		if err != nil {
			return err
		}
		if !s.ready || s.state != "Synced" || !s.primary || s.size != size {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
}
