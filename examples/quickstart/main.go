// Quickstart records a small workflow in an embedded SQLite file and prints
// what a user of a task system wants to see: each invocation's history in
// order, the result and the exception.
//
//	go run ./examples/quickstart            # uses a temporary file
//	go run ./examples/quickstart -db state.db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

func main() {
	dbPath := flag.String("db", "", "SQLite file to use (default: a temporary file, removed at exit)")
	flag.Parse()
	if err := run(context.Background(), *dbPath); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dbPath string) error {
	temporary := dbPath == ""
	if temporary {
		dir, err := os.MkdirTemp("", "statebackend-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "state.db")
	}

	backend, err := statebackend.Open(sqlite.Open(dbPath), statebackend.WithAppID("quickstart"))
	if err != nil {
		return err
	}
	defer backend.Close()

	// A workflow: one top-level invocation of "reports.build" that starts two
	// children of "reports.fetch".
	build := statebackend.TaskID{Module: "reports", FuncName: "build"}
	fetch := statebackend.TaskID{Module: "reports", FuncName: "fetch"}
	workflow := statebackend.WorkflowIdentity{WorkflowID: "inv-build", WorkflowType: build}
	invocations := []statebackend.Invocation{
		{ID: "inv-build", CallID: statebackend.CallID{Task: build, ArgsID: statebackend.NoArgs}, Workflow: workflow},
		{
			ID: "inv-fetch-eu", CallID: statebackend.CallID{Task: fetch, ArgsID: "region-eu"},
			Arguments: map[string]string{"region": `"eu"`}, Workflow: workflow, ParentInvocationID: "inv-build",
		},
		{
			ID: "inv-fetch-us", CallID: statebackend.CallID{Task: fetch, ArgsID: "region-us"},
			Arguments: map[string]string{"region": `"us"`}, Workflow: workflow, ParentInvocationID: "inv-build",
		},
	}
	if err := backend.UpsertInvocations(ctx, invocations); err != nil {
		return err
	}
	if err := backend.StoreWorkflowRun(ctx, workflow); err != nil {
		return err
	}
	runner := statebackend.RunnerContext{RunnerCls: "ThreadRunner", RunnerID: "runner-1", PID: os.Getpid(), Hostname: "localhost"}
	if err := backend.StoreRunnerContext(ctx, runner); err != nil {
		return err
	}

	// Status changes, as an orchestrator would record them.
	start := time.Now().UTC()
	step := func(i int) time.Time { return start.Add(time.Duration(i) * 10 * time.Millisecond) }
	record := func(ids []statebackend.InvocationID, s statebackend.Status, at time.Time) error {
		h := statebackend.InvocationHistory{
			Timestamp:       at,
			StatusRecord:    statebackend.StatusRecord{Status: s, RunnerID: runner.RunnerID, Timestamp: at},
			RunnerContextID: runner.RunnerID,
		}
		return backend.AddHistory(ctx, ids, h)
	}
	all := []statebackend.InvocationID{"inv-build", "inv-fetch-eu", "inv-fetch-us"}
	steps := []struct {
		ids    []statebackend.InvocationID
		status statebackend.Status
	}{
		{all, statebackend.StatusRegistered},
		{all, statebackend.StatusPending},
		{all, statebackend.StatusRunning},
		{[]statebackend.InvocationID{"inv-fetch-eu"}, statebackend.StatusSuccess},
		{[]statebackend.InvocationID{"inv-fetch-us"}, statebackend.StatusFailed},
		{[]statebackend.InvocationID{"inv-build"}, statebackend.StatusSuccess},
	}
	for i, s := range steps {
		if err := record(s.ids, s.status, step(i)); err != nil {
			return err
		}
	}
	if err := backend.SetResult(ctx, "inv-fetch-eu", []byte(`{"rows": 1204}`)); err != nil {
		return err
	}
	if err := backend.SetException(ctx, "inv-fetch-us", []byte(`{"error_name": "TimeoutError", "error_data": "upstream took 30s"}`)); err != nil {
		return err
	}
	if err := backend.SetResult(ctx, "inv-build", []byte(`"report-2026-11.pdf"`)); err != nil {
		return err
	}

	// Read it back.
	if temporary {
		fmt.Printf("database: %s (temporary, removed at exit; -db PATH keeps one)\n", dbPath)
	} else {
		fmt.Printf("database: %s\n", dbPath)
	}
	children, err := backend.ChildInvocations(ctx, "inv-build")
	if err != nil {
		return err
	}
	fmt.Printf("workflow %s (%s): children %v\n\n", workflow.WorkflowID, workflow.WorkflowType, children)
	for _, id := range all {
		inv, err := backend.Invocation(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s  args=%v\n", inv.ID, inv.CallID, inv.Arguments)
		history, err := backend.History(ctx, id)
		if err != nil {
			return err
		}
		for _, h := range history {
			fmt.Printf("    %s  %-10s by %s\n", h.Timestamp.Format("15:04:05.000000"), h.StatusRecord.Status, h.RunnerContextID)
		}
		if result, err := backend.Result(ctx, id); err == nil {
			fmt.Printf("    result:    %s\n", result)
		} else if !errors.Is(err, statebackend.ErrNotFound) {
			return err
		}
		if exc, err := backend.Exception(ctx, id); err == nil {
			fmt.Printf("    exception: %s\n", exc)
		} else if !errors.Is(err, statebackend.ErrNotFound) {
			return err
		}
	}

	fmt.Println("\nstatus changes in the last minute:")
	for batch, err := range backend.HistoryInTimeRange(ctx, start.Add(-time.Minute), step(len(steps)), 100) {
		if err != nil {
			return err
		}
		for _, h := range batch {
			fmt.Printf("    %s  %-12s %s\n", h.Timestamp.Format("15:04:05.000000"), h.InvocationID, h.StatusRecord.Status)
		}
	}
	return nil
}
