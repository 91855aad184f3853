package repository_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	sbmysql "github.com/taskstate/statebackend/mysql"
)

// TestMySQLPreparedStatements checks, with the server's own per-session
// counters, that the repository, built on MySQL as the store builds it,
// prepares its statements once per connection and then only executes
// them, and that with WithoutPreparedStatements it sends them as text
// instead.
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
			a := openApp(t, c.d, conformance.NewAppID(), dialect.Pool{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db := a.db.WithContext(ctx)
			// One connection, so that the session counters below count
			// every statement the repository sends.
			sqlDB, err := a.db.DB()
			if err != nil {
				t.Fatal(err)
			}
			sqlDB.SetMaxOpenConns(1)
			inv := invocationRows([]string{"inv-1"})
			if err := a.repo.UpsertInvocations(db, inv); err != nil {
				t.Fatal(err)
			}
			read := func() {
				t.Helper()
				found, err := a.repo.Invocation(db, "inv-1", func(*entities.Invocation, []byte) error { return nil })
				if err != nil || !found {
					t.Fatalf("read inv-1: found %v, %v", found, err)
				}
			}
			read() // prepares the read on the connection, if it prepares
			counters := func() (prepares, executes int64) {
				t.Helper()
				var rows []struct {
					VariableName string `gorm:"column:Variable_name"`
					Value        int64  `gorm:"column:Value"`
				}
				err := db.Raw("SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')").Scan(&rows).Error
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
