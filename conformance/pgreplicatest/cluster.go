package pgreplicatest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/taskstate/statebackend/conformance/internal/serverproc"
)

// Credentials. The servers listen on loopback only and live as long as a
// test binary.
const (
	user     = "statebackend" // owns database; what the DSNs log in as
	password = "statebackend"
	database = "statebackend"

	superuser         = "postgres"
	superuserPassword = "postgres"

	replicationUser     = "replicator"
	replicationPassword = "replicator"
	replicationSlot     = "replica"
)

// stopTimeout bounds a server's shutdown before it is killed.
const stopTimeout = time.Minute

// Cluster is a running Postgres primary with one streaming replica. Its
// methods are safe for concurrent use.
type Cluster struct {
	dir         string // everything: data directories, sockets, logs
	bin         string
	as          *serverproc.Account
	primaryPort int
	replicaPort int

	mu           sync.Mutex // guards the servers' processes and pools
	primary      *serverproc.Process
	primaryAdmin *sql.DB // as superuser
	replica      *serverproc.Process
	replicaAdmin *sql.DB // as superuser; nil while the replica is stopped
}

// PrimaryDSN returns the URL of the database on the primary, e.g.
// "postgres://statebackend:statebackend@127.0.0.1:41234/statebackend?sslmode=disable&connect_timeout=5".
// The user owns the database and may create tables in it.
func (c *Cluster) PrimaryDSN() string { return dsn(user, password, c.primaryPort, database) }

// ReplicaDSN returns the URL of the same database on the replica, which
// serves reads only.
func (c *Cluster) ReplicaDSN() string { return dsn(user, password, c.replicaPort, database) }

func dsn(user, password string, port int, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable&connect_timeout=5",
	}
	return u.String()
}

// start creates and starts a primary, creates the user, database and
// replication account, clones the replica from it and starts the replica.
// On error nothing is left running or on disk.
func start(ctx context.Context) (c *Cluster, err error) {
	as, err := serverproc.ServiceAccount("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := serverproc.TempDir("pgreplicatest")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir, bin: binDir(), as: as}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
			c = nil
		}
	}()
	ports, err := serverproc.FreePorts(2)
	if err != nil {
		return c, err
	}
	c.primaryPort, c.replicaPort = ports[0], ports[1]

	pwfile := filepath.Join(dir, "superuser-password")
	if err := os.WriteFile(pwfile, []byte(superuserPassword+"\n"), 0o600); err != nil {
		return c, err
	}
	if err := as.Own(dir); err != nil {
		return c, err
	}
	// scram-sha-256 for every connection, local ones included, so that only
	// the fixture's accounts get in; initdb's pg_hba.conf lets them
	// replicate from loopback.
	if err := c.run(ctx, "initdb", "initdb",
		"-D", c.dataDir("primary"), "-U", superuser, "--pwfile", pwfile, "-A", "scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
	); err != nil {
		return c, err
	}
	if c.primary, err = c.startServer("primary", c.primaryPort); err != nil {
		return c, err
	}
	if c.primaryAdmin, err = c.waitServer(ctx, c.primary, c.primaryPort, false); err != nil {
		return c, err
	}
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN REPLICATION PASSWORD '%s'", replicationUser, replicationPassword),
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", user, password),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", database, user),
	} {
		if _, err := c.primaryAdmin.ExecContext(ctx, stmt); err != nil {
			return c, fmt.Errorf("primary: %s: %w", stmt, err)
		}
	}
	// -R writes standby.signal and the connection to the primary (slot
	// included) into the copy's postgresql.auto.conf. The slot keeps the
	// WAL a stopped replica still needs.
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s application_name=replica",
		c.primaryPort, replicationUser, replicationPassword)
	if err := c.run(ctx, "pg_basebackup", "pg_basebackup",
		"-d", conninfo, "-D", c.dataDir("replica"), "-R", "-C", "-S", replicationSlot,
		"-X", "stream", "--checkpoint=fast", "--no-sync",
	); err != nil {
		return c, err
	}
	if err := c.startReplica(ctx); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) dataDir(name string) string { return filepath.Join(c.dir, name) }

// run runs one of the Postgres tools as the servers' account.
func (c *Cluster) run(ctx context.Context, name, tool string, args ...string) error {
	return serverproc.Run(ctx, serverproc.Command{
		Name: name,
		Path: filepath.Join(c.bin, tool),
		Args: args,
		Log:  filepath.Join(c.dir, name+".log"),
		As:   c.as,
	})
}

// startServer starts the server of data directory name on port; the
// replica's directory is a copy of the primary's, so both get the same
// settings.
func (c *Cluster) startServer(name string, port int) (*serverproc.Process, error) {
	settings := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(port),
		"unix_socket_directories=" + c.dir,
		"cluster_name=" + name,
		// A throwaway cluster: durability does not matter, speed does.
		// Commits stay synchronous, so the WAL position a commit leaves is
		// written when it returns (WaitCaughtUp relies on it).
		"fsync=off",
		// The parallel suite opens many pools at once.
		"max_connections=300",
		"wal_level=replica",
		"max_wal_senders=10",
		"max_replication_slots=10",
		"hot_standby=on",
		// Fewer replica queries cancelled by the primary's vacuum.
		"hot_standby_feedback=on",
		"wal_receiver_status_interval=1s",
		// A replica whose primary restarted reconnects within a second
		// (the default waits 5 s).
		"wal_retrieve_retry_interval=1s",
	}
	args := []string{"-D", c.dataDir(name)}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return serverproc.Start(serverproc.Command{
		Name: name,
		Path: filepath.Join(c.bin, "postgres"),
		Args: args,
		Log:  filepath.Join(c.dir, name+".log"),
		As:   c.as,
		// An immediate shutdown: the postmaster stops its backends and
		// removes its shared memory before exiting.
		DeathSignal: syscall.SIGQUIT,
	})
}

// waitServer waits until the server on port accepts the superuser (and, for
// a replica, is in recovery), and returns a pool connected as superuser.
func (c *Cluster) waitServer(ctx context.Context, p *serverproc.Process, port int, replica bool) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn(superuser, superuserPassword, port, "postgres"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	err = serverproc.Wait(ctx, p, "accepting connections", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var recovering bool
		if err := db.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err != nil {
			return err
		}
		if recovering != replica {
			return fmt.Errorf("pg_is_in_recovery() = %v", recovering)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// logStarted tells t where the servers are.
func (c *Cluster) logStarted(t testing.TB, took time.Duration) {
	t.Helper()
	t.Logf("pgreplicatest: primary on 127.0.0.1:%d, replica on 127.0.0.1:%d, started in %v (logs in %s)",
		c.primaryPort, c.replicaPort, took.Round(time.Millisecond), c.dir)
}

// primaryTail returns the end of the primary's log.
func (c *Cluster) primaryTail(n int) string {
	return serverproc.LogTail(filepath.Join(c.dir, "primary.log"), n)
}

// replicaTail returns the end of the replica's log.
func (c *Cluster) replicaTail(n int) string {
	return serverproc.LogTail(filepath.Join(c.dir, "replica.log"), n)
}

// close stops both servers (an immediate shutdown: the data is thrown
// away) and removes the directory.
func (c *Cluster) close() error {
	var errs []error
	c.mu.Lock()
	replica, replicaAdmin, primary, primaryAdmin := c.replica, c.replicaAdmin, c.primary, c.primaryAdmin
	c.replica, c.replicaAdmin, c.primary, c.primaryAdmin = nil, nil, nil, nil
	c.mu.Unlock()
	for _, db := range []*sql.DB{replicaAdmin, primaryAdmin} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	for _, p := range []*serverproc.Process{replica, primary} {
		if p != nil {
			errs = append(errs, p.Stop(syscall.SIGQUIT, stopTimeout))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
