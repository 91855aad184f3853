package galeratest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/taskstate/statebackend/conformance/galeratest"
)

func TestMain(m *testing.M) { galeratest.Main(m) }

// open opens a pool on dsn, closed when t ends; params are session
// settings.
func open(t *testing.T, dsn string, params map[string]string) *sql.DB {
	t.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params[k] = v
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openNodes opens a pool on every node. Reads wait until the node has
// applied every transaction committed anywhere before them
// (wsrep_sync_wait=1).
func openNodes(t *testing.T, c *galeratest.Cluster) []*sql.DB {
	t.Helper()
	var dbs []*sql.DB
	for _, dsn := range c.NodeDSNs() {
		dbs = append(dbs, open(t, dsn, map[string]string{"wsrep_sync_wait": "1"}))
	}
	return dbs
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestEveryNodeReadsAWrite(t *testing.T) {
	c := galeratest.Shared(t)
	nodes := openNodes(t, c)
	for i, db := range nodes {
		var name, size string
		if err := db.QueryRowContext(t.Context(), "SHOW STATUS LIKE 'wsrep_cluster_size'").Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		if size != fmt.Sprint(galeratest.Nodes) {
			t.Fatalf("node %d: wsrep_cluster_size = %s, want %d", i, size, galeratest.Nodes)
		}
	}

	exec(t, nodes[0], "CREATE TABLE messages (id int PRIMARY KEY, v varchar(50) NOT NULL)")
	t.Cleanup(func() { _, _ = nodes[0].ExecContext(context.Background(), "DROP TABLE messages") })
	exec(t, nodes[0], "INSERT INTO messages VALUES (1, 'written through node 0')")
	for i, db := range nodes[1:] {
		var v string
		if err := db.QueryRowContext(t.Context(), "SELECT v FROM messages WHERE id = 1").Scan(&v); err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if v != "written through node 0" {
			t.Fatalf("node %d reads %q", i+1, v)
		}
	}
}

// isDeadlock reports whether err is MySQL error 1213, which Galera returns
// to the loser of a conflict between nodes.
func isDeadlock(err error) bool {
	var my *gomysql.MySQLError
	return errors.As(err, &my) && my.Number == 1213
}

func TestConflictingCommitsThroughTwoNodes(t *testing.T) {
	c := galeratest.Shared(t)
	nodes := openNodes(t, c)
	exec(t, nodes[0], "CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)")
	t.Cleanup(func() { _, _ = nodes[0].ExecContext(context.Background(), "DROP TABLE counters") })
	exec(t, nodes[0], "INSERT INTO counters VALUES (1, 0), (2, 0)")

	t.Run("interleaved", func(t *testing.T) {
		// Both transactions change row 1 before either commits, each through
		// its own node: whichever commits second has lost.
		const rounds = 5
		committed, deadlocks := 0, 0
		for round := range rounds {
			txs := make([]*sql.Tx, 2)
			for i := range txs {
				tx, err := nodes[i].BeginTx(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				txs[i] = tx
				if _, err := tx.ExecContext(t.Context(), "UPDATE counters SET v = v + 1 WHERE id = 1"); err != nil {
					t.Fatalf("round %d: update through node %d: %v", round, i, err)
				}
			}
			for i, tx := range txs {
				err := tx.Commit()
				switch {
				case err == nil:
					committed++
				case isDeadlock(err):
					deadlocks++
					t.Logf("round %d: commit through node %d: %v", round, i, err)
				default:
					t.Fatalf("round %d: commit through node %d: %v", round, i, err)
				}
			}
		}
		t.Logf("%d rounds: %d commits, %d deadlock errors (1213)", rounds, committed, deadlocks)
		var v int
		if err := nodes[2].QueryRowContext(t.Context(), "SELECT v FROM counters WHERE id = 1").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != committed {
			t.Fatalf("counter is %d after %d committed increments", v, committed)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		// Two goroutines increment row 2 through different nodes, retrying
		// each transaction the cluster aborts, until every increment
		// committed.
		const perNode = 25
		var mu sync.Mutex
		aborted := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for i := range 2 {
			wg.Go(func() {
				for done := 0; done < perNode; {
					where, err := increment(t.Context(), nodes[i])
					if isDeadlock(err) {
						mu.Lock()
						aborted[where]++
						mu.Unlock()
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("node %d: %s: %w", i, where, err)
						return
					}
					done++
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("%d increments through each of 2 nodes; deadlock errors (1213), retried, by statement: %v", perNode, aborted)
		var v int
		if err := nodes[2].QueryRowContext(t.Context(), "SELECT v FROM counters WHERE id = 2").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != 2*perNode {
			t.Fatalf("counter is %d after %d committed increments", v, 2*perNode)
		}
	})
}

// increment adds one to counter 2 in a transaction through db; where names
// the statement that failed.
func increment(ctx context.Context, db *sql.DB) (where string, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "begin", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE counters SET v = v + 1 WHERE id = 2"); err != nil {
		return "update", err
	}
	if err := tx.Commit(); err != nil {
		return "commit", err
	}
	return "", nil
}

func TestStoppedNodeCatchesUp(t *testing.T) {
	c := galeratest.Shared(t)
	nodes := openNodes(t, c)
	exec(t, nodes[0], "CREATE TABLE restarts (id int PRIMARY KEY)")
	t.Cleanup(func() { _, _ = nodes[0].ExecContext(context.Background(), "DROP TABLE restarts") })

	began := time.Now()
	c.StopNode(t, 2)
	t.Logf("node 2 stopped in %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stopped := open(t, c.NodeDSNs()[2], nil)
	if err := stopped.PingContext(ctx); err == nil {
		t.Fatal("the stopped node accepted a connection")
	} else {
		t.Logf("connecting to the stopped node: %v", err)
	}
	exec(t, nodes[1], "INSERT INTO restarts VALUES (1)")

	began = time.Now()
	c.StartNode(t, 2)
	t.Logf("node 2 started and synced in %v", time.Since(began).Round(time.Millisecond))
	var n int
	if err := nodes[2].QueryRowContext(t.Context(), "SELECT count(*) FROM restarts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the restarted node has %d rows written while it was stopped, want 1", n)
	}
}

func TestRootHasNoAccountOverTCP(t *testing.T) {
	c := galeratest.Shared(t)
	for i, dsn := range c.NodeDSNs() {
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd, cfg.DBName = "root", "", ""
		db := open(t, cfg.FormatDSN(), nil)
		var my *gomysql.MySQLError
		if err := db.PingContext(t.Context()); !errors.As(err, &my) || my.Number != 1045 {
			t.Fatalf("node %d: root over TCP without a password: %v, want error 1045 (access denied)", i, err)
		}
	}
}
