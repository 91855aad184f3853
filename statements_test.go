package statebackend_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
	repo := statebackend.Internals(be).Repo()

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
