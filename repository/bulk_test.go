package repository_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	sbmysql "github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/repository"
)

// TestManyRowWrites checks the many-row writes on every database: they
// store what the one-row writes store, replace what a conflict replaces,
// leave an existing sub-invocation as it is, keep the last of repeated
// keys, and write sizes that take several statements (and so several
// chunk sizes) atomically.
func TestManyRowWrites(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		open func(t *testing.T) gorm.Dialector
	}{
		{"sqlite", func(t *testing.T) gorm.Dialector { return sqliteFile(t) }},
		{"postgres", func(t *testing.T) gorm.Dialector { return postgresDB(t) }},
		{"mysql", func(t *testing.T) gorm.Dialector { return sbmysql.Open(mysqltest.DSN(t)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := openApp(t, c.open(t), conformance.NewAppID(), dialect.Pool{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			db := a.db.WithContext(ctx)
			checkManyRowWrites(t, db, a.repo)
		})
	}
}

func checkManyRowWrites(t *testing.T, db *gorm.DB, repo repository.Repo) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = 627 // 500 + 100 + 20 + 5 + 2 x 1
	id := func(i int) entities.Key { return entities.Key(fmt.Sprintf("inv-%04d", i)) }
	var results []entities.Result
	var excs []entities.Exception
	var runs []entities.Workflow
	var data []entities.WorkflowData
	var subs []entities.WorkflowSubInvocation
	for i := range n {
		results = append(results, entities.Result{InvocationID: id(i), ResultData: []byte(fmt.Sprintf("r%d", i))})
		excs = append(excs, entities.Exception{InvocationID: id(i), ExceptionData: []byte{}})
		runs = append(runs, entities.Workflow{WorkflowID: id(i), WorkflowTypeKey: "m.f", ParentWorkflowID: id(i / 5)})
		data = append(data, entities.WorkflowData{WorkflowID: id(i / 3), DataKey: entities.Key(fmt.Sprint("k", i%3)), DataValue: []byte{byte(i)}})
		subs = append(subs, entities.WorkflowSubInvocation{ParentWorkflowID: id(i / 10), SubInvocationID: id(i)})
	}
	// One row first through the one-row writes, to be replaced (or, for a
	// sub-invocation, kept) by the many-row ones.
	must(repo.SetResult(db, entities.Result{InvocationID: id(7), ResultData: []byte("old")}))
	must(repo.StoreWorkflowRun(db, entities.Workflow{WorkflowID: id(7), WorkflowTypeKey: "old.type"}))
	must(repo.AddWorkflowSubInvocation(db, subs[7]))
	// A repeated key: the last row wins.
	results = append(results, entities.Result{InvocationID: id(3), ResultData: []byte("last")})

	must(repo.SetResults(db, results))
	must(repo.SetExceptions(db, excs))
	must(repo.StoreWorkflowRuns(db, runs))
	must(repo.SetWorkflowDataRows(db, data))
	must(repo.AddWorkflowSubInvocations(db, subs))
	// Writing the same rows again changes nothing.
	must(repo.AddWorkflowSubInvocations(db, subs))
	must(repo.StoreWorkflowRuns(db, runs))

	for _, i := range []int{0, 3, 7, 499, 500, n - 1} {
		row, found, err := repo.Result(db, string(id(i)))
		want := fmt.Sprintf("r%d", i)
		if i == 3 {
			want = "last"
		}
		if err != nil || !found || string(row.ResultData) != want {
			t.Errorf("result %d = %q, %v, %v; want %q", i, row.ResultData, found, err, want)
		}
		exc, found, err := repo.Exception(db, string(id(i)))
		if err != nil || !found || exc.ExceptionData == nil || len(exc.ExceptionData) != 0 {
			t.Errorf("exception %d = %v, %v, %v; want empty", i, exc.ExceptionData, found, err)
		}
	}
	all, err := repo.WorkflowRuns(db, "")
	must(err)
	if len(all) != n || all[7].WorkflowTypeKey != "m.f" || all[7].ParentWorkflowID != id(1) {
		t.Errorf("%d workflow runs, run 7 = %+v; want %d, of type m.f under %s", len(all), all[7], n, id(1))
	}
	row, found, err := repo.WorkflowData(db, string(id(208)), "k2")
	if err != nil || !found || len(row.DataValue) != 1 || row.DataValue[0] != byte(626%256) {
		t.Errorf("workflow data = %v, %v, %v", row.DataValue, found, err)
	}
	got, err := repo.WorkflowSubInvocations(db, string(id(62)))
	must(err)
	if len(got) != 7 || got[0] != string(id(620)) || got[6] != string(id(626)) {
		t.Errorf("sub-invocations of %s = %v", id(62), got)
	}
}
