package statebackend_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// Open a backend on an in-memory SQLite database, record an invocation and
// its history, and read them back.
func ExampleOpen() {
	ctx := context.Background()
	backend, err := statebackend.Open(sqlite.Open(":memory:"))
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()

	task := statebackend.TaskID{Module: "reports", FuncName: "build"}
	inv := statebackend.Invocation{
		ID:        "inv-1",
		CallID:    statebackend.CallID{Task: task, ArgsID: statebackend.NoArgs},
		Arguments: map[string]string{"month": `"2025-01"`},
		// A top-level invocation is the workflow of its own run.
		Workflow: statebackend.WorkflowIdentity{WorkflowID: "inv-1", WorkflowType: task},
	}
	if err := backend.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
		log.Fatal(err)
	}
	start := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	for i, status := range []statebackend.Status{statebackend.StatusRegistered, statebackend.StatusRunning, statebackend.StatusSuccess} {
		at := start.Add(time.Duration(i) * time.Second)
		err := backend.AddHistory(ctx, []statebackend.InvocationID{"inv-1"}, statebackend.InvocationHistory{
			Timestamp:    at,
			StatusRecord: statebackend.StatusRecord{Status: status, RunnerID: "runner-1", Timestamp: at},
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	got, err := backend.Invocation(ctx, "inv-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.CallID.Key(), got.Arguments["month"])
	history, err := backend.History(ctx, "inv-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range history {
		fmt.Println(h.Timestamp.Format(time.TimeOnly), h.StatusRecord.Status)
	}
	// Output:
	// reports.build:no_args "2025-01"
	// 12:00:00 registered
	// 12:00:01 running
	// 12:00:02 success
}

// Backends with different app ids share a database without seeing each
// other's data.
func ExampleWithAppID() {
	ctx := context.Background()
	db := sqlite.Open(":memory:")
	// One in-memory database, two apps: a file path works the same way.
	orders, err := statebackend.Open(db, statebackend.WithAppID("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	billing, err := statebackend.Open(db, statebackend.WithAppID("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer billing.Close()

	if err := orders.SetResult(ctx, "inv-1", []byte("shipped")); err != nil {
		log.Fatal(err)
	}
	res, err := orders.Result(ctx, "inv-1")
	fmt.Printf("orders:  %s %v\n", res, err)
	_, err = billing.Result(ctx, "inv-1")
	fmt.Println("billing:", errors.Is(err, statebackend.ErrNotFound))
	// Output:
	// orders:  shipped <nil>
	// billing: true
}

// A result that was never set is ErrNotFound; test for it with errors.Is.
func ExampleStore_Result() {
	ctx := context.Background()
	backend, err := statebackend.Open(sqlite.Open(":memory:"))
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()

	_, err = backend.Result(ctx, "inv-unknown")
	switch {
	case errors.Is(err, statebackend.ErrNotFound):
		fmt.Println("no result yet")
	case err != nil:
		log.Fatal(err)
	}
	_, err = backend.Result(ctx, "")
	fmt.Println(errors.Is(err, statebackend.ErrInvalidArgument), err)
	// Output:
	// no result yet
	// true statebackend: id: empty: invalid argument
}

// HistoryInTimeRange walks the history of every invocation between two
// instants, one batch per step.
func ExampleStore_HistoryInTimeRange() {
	ctx := context.Background()
	backend, err := statebackend.Open(sqlite.Open(":memory:"))
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()

	start := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		at := start.Add(time.Duration(i) * time.Minute)
		id := statebackend.InvocationID(fmt.Sprintf("inv-%d", i))
		err := backend.AddHistory(ctx, []statebackend.InvocationID{id}, statebackend.InvocationHistory{
			Timestamp:    at,
			StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusSuccess, Timestamp: at},
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	// Both bounds are inclusive: minutes 1 to 3.
	from, to := start.Add(time.Minute), start.Add(3*time.Minute)
	for batch, err := range backend.HistoryInTimeRange(ctx, from, to, 2) {
		if err != nil {
			log.Fatal(err)
		}
		for _, h := range batch {
			fmt.Print(h.InvocationID, " ")
		}
		fmt.Println("(end of batch)")
	}
	// Output:
	// inv-1 inv-2 (end of batch)
	// inv-3 (end of batch)
}

// needs the servers.)
func ExampleWithReadReplicas() {
	ctx := context.Background()
	backend, err := statebackend.Open(postgres.Open("postgres://app:secret@primary:5432/state"),
		statebackend.WithAppID("orders"),
		statebackend.WithReadReplicas(
			postgres.Open("postgres://app:secret@replica-1:5432/state"),
			postgres.Open("postgres://app:secret@replica-2:5432/state"),
		),
		// Range scans may miss other processes' writes of the last 10 s,
		// never the backend's own.
		statebackend.WithReplicaSettings(statebackend.ReplicaSettings{MaxLag: 10 * time.Second}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()

	replicas, err := backend.Replicas(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range replicas {
		fmt.Printf("replica %d: serving=%v lag=%v behind=%d bytes err=%v\n", r.Replica, r.Serving, r.Lag, r.Behind, r.Err)
	}
}
