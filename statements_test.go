package statebackend_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/sqlite"
)

// TestStatementCacheIsBounded checks that the backend's compiled statements
// do not grow with the sizes callers use: batches of every length from 1
// to 1,200 and pages of every size end up in the same bounded set.
func TestStatementCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	be, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "stmts.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	repo := statebackend.Inside(be).Repo()

	task := statebackend.TaskID{Module: "m", FuncName: "f"}
	var invs []statebackend.Invocation
	var ids []statebackend.InvocationID
	for i := range 1200 {
		id := statebackend.InvocationID(fmt.Sprintf("inv-%04d", i))
		ids = append(ids, id)
		invs = append(invs, statebackend.Invocation{
			ID: id, CallID: statebackend.CallID{Task: task, ArgsID: statebackend.NoArgs},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task},
		})
	}
	at := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	record := statebackend.InvocationHistory{
		Timestamp: at, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: at},
	}
	sizes := []int{1, 2, 3, 7, 19, 20, 21, 99, 101, 333, 499, 500, 501, 777, 1000, 1200}
	after := 0
	for _, n := range sizes {
		if err := be.UpsertInvocations(ctx, invs[:n]); err != nil {
			t.Fatal(err)
		}
		if err := be.AddHistory(ctx, ids[:n], record); err != nil {
			t.Fatal(err)
		}
		if _, err := be.Invocations(ctx, ids[:n]); err != nil {
			t.Fatal(err)
		}
		for _, err := range be.HistoryInTimeRange(ctx, at, at, n) {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, err := range be.InvocationIDsInTimeRange(ctx, at, at, n) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n == 20 {
			after = repo.Statements()
		}
	}
	got := repo.Statements()
	if got > repository.MaxStatements {
		t.Fatalf("%d statements compiled, over the bound of %d", got, repository.MaxStatements)
	}
	// Once every chunk size has been used (by 1,200 rows at the latest),
	// new sizes compile nothing new; between sizes 20 and 1,200 only the
	// chunk sizes 100 and 500 can be added (two per statement kind).
	if got > after+2*3 {
		t.Errorf("statements grew from %d to %d with the batch size", after, got)
	}
	t.Logf("%d statements after sizes up to 20, %d after all", after, got)
}

// TestSQLiteHistoryReadIsNotRecompiled checks that reading an
// invocation's history runs its prepared statement as compiled. SQLite
// recompiles a statement whose plan it marked as depending on a bound
// value as soon as the driver clears the bindings, which go-sqlite3 does
// before every execution; a query shape that invites the mark (an ORDER BY
// the index does not settle) would make every read parse and plan its SQL
// again. SQLite consults the connection's authorizer only while compiling,
// so the authorizer counts the compilations.
func TestSQLiteHistoryReadIsNotRecompiled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "recompile.db")
	writer, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	ids := []statebackend.InvocationID{"inv-a", "inv-b", "inv-c"}
	for k, status := range []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusRunning, statebackend.StatusSuccess} {
		ts := at.Add(time.Duration(k) * time.Millisecond)
		h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: status, Timestamp: ts}}
		if err := writer.AddHistory(ctx, ids, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	// A reader with two connections (with one, the backend would not
	// prepare statements), each with the authorizer: registered on a
	// connection, it stays for the backend's calls.
	be, err := statebackend.Open(sqlite.Open(path), statebackend.WithPool(statebackend.Pool{MaxOpenConns: 2, MaxIdleConns: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	sqlDB, err := statebackend.Inside(be).DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	var compiles atomic.Int64
	history := statebackend.Inside(be).Repo().Tables.Name("History")
	var conns []*sql.Conn
	for range 2 {
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		err = conn.Raw(func(c any) error {
			c.(*sqlite3.SQLiteConn).RegisterAuthorizer(func(op int, table, _, _ string) int {
				if op == sqlite3.SQLITE_READ && table == history {
					compiles.Add(1)
				}
				return sqlite3.SQLITE_OK
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, conn := range conns {
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
	}

	read := func(id statebackend.InvocationID) {
		t.Helper()
		hs, err := be.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 3 || hs[0].StatusRecord.Status != statebackend.StatusRegistered || hs[2].StatusRecord.Status != statebackend.StatusSuccess {
			t.Fatalf("history of %s: %+v", id, hs)
		}
	}
	// Compiles the statement, on each connection that runs it.
	for _, id := range ids {
		read(id)
	}
	if compiles.Load() == 0 {
		t.Fatal("the authorizer saw no compilation: it cannot detect one")
	}
	before := compiles.Load()
	for _, id := range ids {
		read(id)
		read(id)
	}
	if n := compiles.Load() - before; n != 0 {
		t.Errorf("6 history reads compiled the statement again (%d table reads authorized)", n)
	}
}
