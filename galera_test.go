package statebackend_test

// A certification conflict at COMMIT on a real three-node MariaDB Galera
// cluster (conformance/galeratest), retried inside the backend; the
// conformance suite through each node is in package scaleout.

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/mysql"
)

// TestGaleraCommitConflictRetried makes the COMMIT of a two-statement
// write transaction on node 0 lose a certification conflict to a commit
// through node 1, and checks that the backend retries the whole
// transaction: the caller gets no error, the failed attempt leaves
// nothing, and both changes are there once.
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
	// Reads wait until their node has applied every earlier commit.
	node0 := openSQL(t, dsns[0]+"&wsrep_sync_wait=1")
	node1 := openSQL(t, dsns[1])

	counters, log := "conflict_"+conformance.NewAppID(), "conflict_log_"+conformance.NewAppID()
	for _, stmt := range []string{
		"CREATE TABLE " + counters + " (id int PRIMARY KEY, v int NOT NULL)",
		"CREATE TABLE " + log + " (id int PRIMARY KEY AUTO_INCREMENT, note varchar(20) NOT NULL)",
		"INSERT INTO " + counters + " VALUES (1, 0)",
	} {
		if _, err := node1.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, table := range []string{counters, log} {
			_, _ = node1.ExecContext(ctx, "DROP TABLE "+table)
		}
	})

	var attempts int
	var commitErrs []error
	err = statebackend.Inside(b).Write(ctx, "SetResult", func(db *gorm.DB) error {
		attempts++
		bodyDone := false
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("UPDATE " + counters + " SET v = v + 1 WHERE id = 1").Error; err != nil {
				return err
			}
			if err := tx.Exec("INSERT INTO "+log+" (note) VALUES (?)", fmt.Sprintf("attempt %d", attempts)).Error; err != nil {
				return err
			}
			if attempts == 1 {
				// Node 1 commits a change of the same row first; node 0
				// applies it (the read waits for that), aborting this
				// transaction, whose COMMIT then fails.
				if _, err := node1.ExecContext(ctx, "UPDATE "+counters+" SET v = v + 100 WHERE id = 1"); err != nil {
					return fmt.Errorf("conflicting update through node 1: %w", err)
				}
				var v int
				if err := node0.QueryRowContext(ctx, "SELECT v FROM "+counters+" WHERE id = 1").Scan(&v); err != nil {
					return fmt.Errorf("read through node 0: %w", err)
				}
			}
			bodyDone = true
			return nil
		})
		if err != nil && bodyDone {
			commitErrs = append(commitErrs, err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Write: %v (attempts %d, commit errors %v)", err, attempts, commitErrs)
	}
	if attempts < 2 || len(commitErrs) == 0 {
		t.Fatalf("%d attempts, commit errors %v: the conflict did not fail a COMMIT", attempts, commitErrs)
	}
	var my *gomysql.MySQLError
	if !errors.As(commitErrs[0], &my) || my.Number != 1213 {
		t.Fatalf("COMMIT failed with %v, want MySQL error 1213", commitErrs[0])
	}
	t.Logf("%d attempts; COMMIT of attempt 1 failed with: %v", attempts, commitErrs[0])
	if !strings.Contains(logs.String(), "retrying after transient error") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}

	var v, notes int
	if err := node0.QueryRowContext(ctx, "SELECT v FROM "+counters+" WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := node0.QueryRowContext(ctx, "SELECT count(*) FROM "+log).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if v != 101 || notes != 1 {
		t.Fatalf("counter %d and %d log rows after the retried write, want 101 and 1", v, notes)
	}
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
