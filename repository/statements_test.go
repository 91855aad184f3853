package repository_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/repository"
	"github.com/taskstate/statebackend/state"
)

// historyRows returns the rows of record h for each of ids, as the store's
// AddHistory writes them (ids sorted and distinct).
func historyRows(ids []string, h state.InvocationHistory) []entities.History {
	rows := make([]entities.History, len(ids))
	for i, id := range ids {
		h.InvocationID = state.InvocationID(id)
		rows[i] = entities.History{
			InvocationID:     entities.Key(id),
			HistoryTimestamp: state.ToMicros(h.Timestamp),
			HistoryStatus:    entities.Key(h.StatusRecord.Status),
			HistoryJSON:      entities.Text(h.AppendJSON(nil)),
		}
	}
	return rows
}

// invocationRows returns the rows of calls without arguments of one task,
// one per id, each its own workflow, as the store's UpsertInvocations
// writes them.
func invocationRows(ids []string) []entities.Invocation {
	task := state.TaskID{Module: "m", FuncName: "f"}
	call := state.CallID{Task: task, ArgsID: state.NoArgs}
	rows := make([]entities.Invocation, len(ids))
	for i, id := range ids {
		rows[i] = entities.Invocation{
			InvocationID: entities.Key(id), CallIDKey: entities.Key(call.Key()), TaskIDKey: entities.Key(task.Key()),
			ArgumentsID: entities.Key(call.ArgsID), SerializedArguments: "{}",
			WorkflowID: entities.Key(id), WorkflowTypeKey: entities.Key(task.Key()),
		}
	}
	return rows
}

// readHistoryRange reads the history records of [lo, hi] page by page, as
// the store's HistoryInTimeRange does, and returns how many it read.
func readHistoryRange(t *testing.T, db *gorm.DB, repo repository.Repo, lo, hi int64, batchSize int) int {
	t.Helper()
	var cur repository.HistoryCursor
	n := 0
	for {
		rows := 0
		err := repo.HistoryPage(db, lo, hi, cur, batchSize, func(id entities.Serial, ts int64, _ []byte) error {
			rows++
			cur = repository.HistoryCursor{Timestamp: ts, ID: id, Started: true}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n += rows
		if rows < batchSize {
			return n
		}
	}
}

// readIDRange reads the invocation ids of [lo, hi] page by page, as the
// store's InvocationIDsInTimeRange does, and returns how many it read.
func readIDRange(t *testing.T, db *gorm.DB, repo repository.Repo, lo, hi int64, batchSize int) int {
	t.Helper()
	after, started := "", false
	n := 0
	for {
		var ids []string
		err := repo.InvocationIDsPage(db, lo, hi, after, started, batchSize, func(id string) { ids = append(ids, id) })
		if err != nil {
			t.Fatal(err)
		}
		n += len(ids)
		if len(ids) < batchSize {
			return n
		}
		after, started = ids[len(ids)-1], true
	}
}

// TestStatementCacheIsBounded checks that the repository's compiled
// statements do not grow with the sizes callers use: batches of every
// length from 1 to 1,200 and pages of every size end up in the same
// bounded set.
func TestStatementCacheIsBounded(t *testing.T) {
	t.Parallel()
	a := openApp(t, sqliteFile(t), "", dialect.Pool{})
	db := a.db.WithContext(context.Background())

	var ids []string
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("inv-%04d", i))
	}
	invs := invocationRows(ids)
	at := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	record := state.InvocationHistory{
		Timestamp: at, StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: at},
	}
	us := state.ToMicros(at)
	sizes := []int{1, 2, 3, 7, 19, 20, 21, 99, 101, 333, 499, 500, 501, 777, 1000, 1200}
	after := 0
	for _, n := range sizes {
		if err := a.repo.UpsertInvocations(db, invs[:n]); err != nil {
			t.Fatal(err)
		}
		if err := a.repo.AddHistory(db, historyRows(ids[:n], record)); err != nil {
			t.Fatal(err)
		}
		if rows, err := a.repo.Invocations(db, ids[:n]); err != nil || len(rows) != n {
			t.Fatalf("%d invocations read of %d: %v", len(rows), n, err)
		}
		if got := readHistoryRange(t, db, a.repo, us, us, n); got != n {
			t.Fatalf("%d history records read of %d", got, n)
		}
		if got := readIDRange(t, db, a.repo, us, us, n); got != n {
			t.Fatalf("%d invocation ids read of %d", got, n)
		}
		if n == 20 {
			after = a.repo.Statements()
		}
	}
	got := a.repo.Statements()
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
	// Two connections, each with the authorizer (with one, the repository
	// would not prepare statements): registered on a connection, it stays
	// for the repository's calls.
	a := openApp(t, sqliteFile(t), "", dialect.Pool{MaxOpenConns: 2, MaxIdleConns: 2})
	if !a.dialect.PrepareStatements {
		t.Fatal("the repository does not prepare statements on SQLite: nothing to test")
	}
	db := a.db.WithContext(ctx)
	at := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	ids := []string{"inv-a", "inv-b", "inv-c"}
	for k, status := range []state.Status{state.StatusRegistered, state.StatusRunning, state.StatusSuccess} {
		ts := at.Add(time.Duration(k) * time.Millisecond)
		h := state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: status, Timestamp: ts}}
		if err := a.repo.AddHistory(db, historyRows(ids, h)); err != nil {
			t.Fatal(err)
		}
	}
	sqlDB, err := a.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	var compiles atomic.Int64
	history := a.tables.Name("History")
	var conns []*sql.Conn
	for range 2 {
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		err = conn.Raw(func(c any) error {
			return countReads(c, history, &compiles)
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

	read := func(id string) {
		t.Helper()
		hs, err := repository.History(a.repo, db, id, func(rid entities.Serial, doc []byte) (h state.InvocationHistory) {
			if err := h.UnmarshalJSON(doc); err != nil {
				t.Errorf("history of %s, record %d: %v", id, rid, err)
			}
			return h
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 3 || hs[0].StatusRecord.Status != state.StatusRegistered || hs[2].StatusRecord.Status != state.StatusSuccess {
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
