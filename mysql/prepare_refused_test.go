package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	sbmysql "github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/state"
)

// TestMain removes the database container the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := mysqltest.Terminate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// TestPrepareRefusedRunsAsText checks that a backend keeps working when the
// server refuses to prepare more statements (max_prepared_stmt_count
// reached by other clients): its statements run as text instead. The
// server's limit is global, so the test runs only on a server of this test
// binary's own (not a DSN others may share), and not in parallel.
func TestPrepareRefusedRunsAsText(t *testing.T) {
	if os.Getenv(mysqltest.DSNEnv) != "" {
		t.Skipf("changes a server-wide setting: runs only on a server this test starts (unset %s)", mysqltest.DSNEnv)
	}
	dsn := mysqltest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = "root" // the test server's root has the user's password
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	var limit int64
	if err := root.QueryRowContext(ctx, "SELECT @@GLOBAL.max_prepared_stmt_count").Scan(&limit); err != nil {
		t.Skipf("cannot read the server's max_prepared_stmt_count as root: %v", err)
	}
	if _, err := root.ExecContext(ctx, "SET GLOBAL max_prepared_stmt_count = 0"); err != nil {
		t.Skipf("cannot set max_prepared_stmt_count: %v", err)
	}
	t.Cleanup(func() {
		// As text: the server prepares nothing until this runs.
		if _, err := root.ExecContext(context.Background(), fmt.Sprintf("SET GLOBAL max_prepared_stmt_count = %d", limit)); err != nil {
			t.Errorf("restore max_prepared_stmt_count: %v", err)
		}
	})

	d := sbmysql.Open(dsn)
	if !d.Dialect().PrepareStatements {
		t.Fatal("the mysql package does not prepare statements: nothing to test")
	}
	b, err := statebackend.Open(d, statebackend.WithAppID("prepare_refused"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	task := state.TaskID{Module: "m", FuncName: "f"}
	inv := state.Invocation{
		ID:       "inv-1",
		CallID:   state.CallID{Task: task, ArgsID: "a"},
		Workflow: state.WorkflowIdentity{WorkflowID: "inv-1", WorkflowType: task},
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := state.InvocationHistory{Timestamp: at, StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: at}}
	// Twice: the first call finds no statement compiled, the second one
	// the statement compiled without being prepared.
	for range 2 {
		if err := b.UpsertInvocations(ctx, []state.Invocation{inv}); err != nil {
			t.Fatalf("upsert while the server prepares nothing: %v", err)
		}
		if got, err := b.Invocation(ctx, inv.ID); err != nil || got.ID != inv.ID {
			t.Fatalf("read while the server prepares nothing: %+v, %v", got, err)
		}
		if err := b.AddHistory(ctx, []state.InvocationID{inv.ID}, h); err != nil {
			t.Fatalf("history while the server prepares nothing: %v", err)
		}
	}
	if hs, err := b.History(ctx, inv.ID); err != nil || len(hs) != 1 {
		t.Fatalf("history: %d records, %v; want 1", len(hs), err)
	}
}
