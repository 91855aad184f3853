/*
Package statebackend stores the state of a distributed task system: the Go
implementation of the state backend of pynenc, a Python task orchestrator.
It keeps invocations, their status history, results, exceptions, runner
contexts, workflow runs, workflow data and app info, on SQLite, Postgres or
MySQL/MariaDB through GORM, and any database GORM speaks.

# Opening a database

Each database has a package of its own, so a program compiles only the
driver it uses:

	import (
		"github.com/taskstate/statebackend"
		"github.com/taskstate/statebackend/sqlite"
	)

	backend, err := statebackend.Open(sqlite.Open("state.db"))
	if err != nil {
		return err
	}
	defer backend.Close()

sqlite.Open is the embedded default, for tests and single machines: one
file, no server, several processes at once (":memory:" gives a private
in-memory database). It needs cgo. For a server, use postgres.Open (pgx) or
mysql.Open (MySQL 8, MariaDB 10.2 and later); neither needs cgo:

	backend, err := statebackend.Open(postgres.Open("postgres://user:pass@db:5432/app"))
	backend, err := statebackend.Open(mysql.Open("user:pass@tcp(db:3306)/app"))

Open takes any gorm.Dialector. The dialectors of the database packages also
implement Database, through which they tell Open how to use their database
(column types, retries, pool, group commit); any other dialector gets
conservative defaults. Open creates the app's tables and indexes when they
are missing (WithoutMigrations turns that off).

# App ids

Several applications can share one database: WithAppID prefixes every table
name the way pynenc does, and backends with different app ids never see
each other's data.

	orders, err := statebackend.Open(sqlite.Open("state.db"), statebackend.WithAppID("orders"))

Without an app id the tables have the names of pynenc's SQLite state backend
("state_backend_invocations", ...). DiscoverAppInfos lists the apps that
share a database.

# Invocations, history, results

An invocation is one call of a task; its history is the list of status
changes it went through. Every method takes a context first:

	task := statebackend.TaskID{Module: "reports", FuncName: "build"}
	inv := statebackend.Invocation{
		ID:       "inv-1",
		CallID:   statebackend.CallID{Task: task, ArgsID: statebackend.NoArgs},
		Workflow: statebackend.WorkflowIdentity{WorkflowID: "inv-1", WorkflowType: task},
	}
	err = backend.UpsertInvocations(ctx, []statebackend.Invocation{inv})

	now := time.Now()
	err = backend.AddHistory(ctx, []statebackend.InvocationID{"inv-1"}, statebackend.InvocationHistory{
		Timestamp:    now,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: now},
	})
	history, err := backend.History(ctx, "inv-1") // ascending by timestamp

	err = backend.SetResult(ctx, "inv-1", []byte(`42`)) // stored byte for byte

Results, exceptions and workflow data are opaque bytes, already serialized by
the caller. History records use pynenc's JSON form, so they can be exchanged
with Python.

# Errors

Errors wrap three sentinels; test for them with errors.Is, never by text:

  - ErrNotFound: a missing invocation, result, exception, app info, runner
    context or workflow data entry;
  - ErrInvalidArgument: the input was refused (empty or oversized ids,
    invalid UTF-8, unknown statuses, bad time ranges...); the message names
    the field and nothing was written;
  - ErrClosed: a call after Close.

A call whose context ends returns the context's error (errors.Is with
context.Canceled or context.DeadlineExceeded). Database failures come
wrapped as "statebackend: <Operation>: <driver error>".

	result, err := backend.Result(ctx, "inv-1")
	if errors.Is(err, statebackend.ErrNotFound) {
		// not finished yet
	}

# Time ranges

HistoryInTimeRange and InvocationIDsInTimeRange are Go iterators that fetch
one batch per step with keyset pagination: each batch costs the same however
far the iteration has gone, memory stays bounded, and records written during
the iteration never make it skip or repeat one that existed when it began.

	for batch, err := range backend.HistoryInTimeRange(ctx, from, to, 500) {
		if err != nil {
			return err
		}
		for _, h := range batch {
			...
		}
	}

# Concurrency

A Backend is safe for concurrent use by many goroutines, and several
processes may share one database. On SQLite, which takes one writer at a
time, a process's writes go through one committer that commits the writes
arriving together in one transaction (group commit); each call still returns
only after its own write is committed, and a write that fails never fails
another. Lock contention, deadlocks and serialization failures are retried
with backoff. Batches are written in ascending key order, so concurrent
writers do not deadlock each other.

# Beyond one server

Range scans, app discovery and workflow listings can be served by Postgres
streaming replicas, within a lag bound, while every other read and every
write goes to the primary; a backend always reads its own writes, and a
replica that is down or behind sends its reads back to the primary:

	backend, err := statebackend.Open(postgres.Open(primaryDSN),
		statebackend.WithReadReplicas(postgres.Open(replicaDSN)))

CheckReplicas reports each replica's lag. On a MariaDB Galera cluster,
open each process's backend on any node with mysql.Open(nodeDSN):
conflicts between nodes are retried like deadlocks.

# Your own backend

The contract is the Backend interface (declared in package state, which
imports nothing but the standard library). Package conformance is the test
suite every backend here passes; run it against yours:

	func TestConformance(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			Open: func(t testing.TB, appID string) state.Backend { ... },
		})
	}

examples/memorybackend is a complete backend written to be read.
*/
package statebackend
