package statebackend_test

// A conflict at COMMIT on a real three-node MariaDB Galera cluster
// (conformance/galeratest), retried inside the backend; the conformance
// suite through each node is in package scaleout.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/mysql"
)

// TestGaleraCommitConflictRetried makes the COMMIT of a two-statement
// write transaction on node 0 fail because a commit through node 1
// changed the same row, and checks that the backend retries the whole
// transaction: the caller gets no error, the failed attempt leaves
// nothing, and both changes are there once.
//
// The conflict is certain, whatever the speed of each node: Galera applies
// node 1's commit on node 0 after node 1 has returned, and the test waits
// until node 0 has applied it. To apply it, node 0's applier needs the row
// lock the backend's open transaction holds, and an applier never waits
// for a local transaction that has not begun to commit: Galera rolls that
// one back (a brute-force abort), and its next statement, the COMMIT,
// fails with error 1213. So once node 0 shows node 1's change, the COMMIT
// of attempt 1 must fail. The test also waits, before writing, until every
// node has applied its tables and row: Galera creates a table on the other
// nodes after the CREATE has returned, as it applies any commit.
func TestGaleraCommitConflictRetried(t *testing.T) {
	t.Parallel()
	c := galeratest.Shared(t)
	dsns := c.NodeDSNs()
	ctx := t.Context()
	var logs syncBuffer
	b, err := statebackend.Open(mysql.Open(dsns[0]), statebackend.WithAppID(conformance.NewAppID()),
		statebackend.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	nodes := []*sql.DB{openSQL(t, dsns[0]), openSQL(t, dsns[1])}
	node0, node1 := nodes[0], nodes[1]

	counters, log := "conflict_"+conformance.NewAppID(), "conflict_log_"+conformance.NewAppID()
	for _, stmt := range []string{
		"CREATE TABLE " + counters + " (id int PRIMARY KEY, v int NOT NULL)",
		"CREATE TABLE " + log + " (id int PRIMARY KEY AUTO_INCREMENT, note varchar(20) NOT NULL)",
		"INSERT INTO " + counters + " VALUES (1, 0)",
	} {
		if _, err := node0.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		// t.Context() has ended by now.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, table := range []string{counters, log} {
			_, _ = node0.ExecContext(ctx, "DROP TABLE "+table)
		}
	})
	for i, node := range nodes {
		err := poll.Until(ctx, fmt.Sprintf("node %d has applied the tables and row", i), func(ctx context.Context) error {
			return readState(ctx, node, counters, log, 0, 0)
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	var attempts int
	var attemptErrs, commitErrs []error
	err = statebackend.Inside(b).Write(ctx, "SetResult", func(db *gorm.DB) error {
		attempts++
		bodyDone := false
		err := db.Transaction(func(tx *gorm.DB) error {
			// Holds the row's lock until the transaction ends.
			res := tx.Exec("UPDATE " + counters + " SET v = v + 1 WHERE id = 1")
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("UPDATE through node 0 changed %d rows, want 1", res.RowsAffected)
			}
			if err := tx.Exec("INSERT INTO "+log+" (note) VALUES (?)", fmt.Sprintf("attempt %d", attempts)).Error; err != nil {
				return err
			}
			if attempts == 1 {
				res, err := node1.ExecContext(ctx, "UPDATE "+counters+" SET v = v + 100 WHERE id = 1")
				if err != nil {
					return fmt.Errorf("conflicting update through node 1: %w", err)
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					return fmt.Errorf("conflicting update through node 1 changed %d rows (%v), want 1", n, err)
				}
				// Node 0 shows node 1's change once it has applied it,
				// which rolled this transaction back (see above). Read
				// committed data through another connection: this
				// transaction's own view would show its change.
				err = poll.Until(ctx, "node 0 has applied node 1's update", func(ctx context.Context) error {
					return readState(ctx, node0, counters, log, 100, 0)
				})
				if err != nil {
					return err
				}
			}
			bodyDone = true
			return nil
		})
		if err != nil {
			attemptErrs = append(attemptErrs, fmt.Errorf("attempt %d: %w", attempts, err))
			if bodyDone {
				commitErrs = append(commitErrs, err)
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("Write: %v (attempts %d, errors %v)", err, attempts, attemptErrs)
	}
	if attempts != 2 || len(commitErrs) != 1 {
		t.Fatalf("%d attempts, errors %v: want 2, the first failing at COMMIT", attempts, attemptErrs)
	}
	var my *gomysql.MySQLError
	if !errors.As(commitErrs[0], &my) || my.Number != 1213 {
		t.Fatalf("COMMIT failed with %v, want MySQL error 1213", commitErrs[0])
	}
	t.Logf("COMMIT of attempt 1 failed with: %v", commitErrs[0])
	if !strings.Contains(logs.String(), "retrying after transient error") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
	// Through node 0, where the backend committed: no wait.
	if err := readState(ctx, node0, counters, log, 101, 1); err != nil {
		t.Fatalf("after the retried write: %v", err)
	}
}

// readState returns nil when, through db, the counter is v and the log
// holds notes rows; an error saying what it found otherwise.
func readState(ctx context.Context, db *sql.DB, counters, log string, v, notes int) error {
	var gotV, gotNotes int
	err := db.QueryRowContext(ctx, "SELECT (SELECT v FROM "+counters+" WHERE id = 1), (SELECT count(*) FROM "+log+")").
		Scan(&gotV, &gotNotes)
	if err != nil {
		return err
	}
	if gotV != v || gotNotes != notes {
		return fmt.Errorf("counter %d and %d log rows, want %d and %d", gotV, gotNotes, v, notes)
	}
	return nil
}

// openSQL opens a database/sql pool on a MySQL DSN, closed when t ends.
func openSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
