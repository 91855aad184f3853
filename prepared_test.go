package statebackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	sbmysql "github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/state"
)

// TestMySQLPreparedStatements checks, with the server's own per-session
// counters, that the backend prepares its statements on MySQL once per
// connection and then only executes them, and that
// WithoutPreparedStatements sends them as text instead.
func TestMySQLPreparedStatements(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	for _, c := range []struct {
		name     string
		d        *sbmysql.Dialector
		prepared bool
	}{
		{"prepared", sbmysql.Open(dsn), true},
		{"unprepared", sbmysql.Open(dsn).WithoutPreparedStatements(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := c.d.Dialect().PrepareStatements; got != c.prepared {
				t.Fatalf("Dialect().PrepareStatements = %v, want %v", got, c.prepared)
			}
			b, err := statebackend.Open(c.d, statebackend.WithAppID("prepared_"+c.name))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// One connection, so that the session counters below count
			// every statement the backend sends.
			sqlDB, err := statebackend.Inside(b).DB().DB()
			if err != nil {
				t.Fatal(err)
			}
			sqlDB.SetMaxOpenConns(1)
			task := state.TaskID{Module: "m", FuncName: "f"}
			inv := state.Invocation{
				ID:       "inv-1",
				CallID:   state.CallID{Task: task, ArgsID: "a"},
				Workflow: state.WorkflowIdentity{WorkflowID: "inv-1", WorkflowType: task},
			}
			if err := b.UpsertInvocations(ctx, []state.Invocation{inv}); err != nil {
				t.Fatal(err)
			}
			read := func() {
				t.Helper()
				if _, err := b.Invocation(ctx, inv.ID); err != nil {
					t.Fatal(err)
				}
			}
			read() // prepares the read on the connection, if it prepares
			counters := func() (prepares, executes int64) {
				t.Helper()
				var rows []struct {
					VariableName string `gorm:"column:Variable_name"`
					Value        int64  `gorm:"column:Value"`
				}
				err := statebackend.Inside(b).DB().WithContext(ctx).
					Raw("SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')").Scan(&rows).Error
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					switch r.VariableName {
					case "Com_stmt_prepare":
						prepares = r.Value
					case "Com_stmt_execute":
						executes = r.Value
					}
				}
				return prepares, executes
			}
			p0, e0 := counters()
			const reads = 10
			for range reads {
				read()
			}
			p1, e1 := counters()
			wantExecutes := int64(0)
			if c.prepared {
				wantExecutes = reads
			}
			if p1 != p0 || e1-e0 != wantExecutes {
				t.Errorf("%d reads: %d prepares, %d executes of prepared statements; want 0 and %d", reads, p1-p0, e1-e0, wantExecutes)
			}
		})
	}
}
