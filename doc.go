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

	store, err := statebackend.Open(sqlite.Open("state.db"))
	if err != nil {
		return err
	}
	defer store.Close()

Open returns a *Store: the contract every backend honours (state.Backend,
re-exported as Backend) and what this implementation adds (Prune,
ImportHistory, Replicas, browsing: ListInvocations, CountInvocations,
StuckInvocations, EstimateInvocations, CountInvocationsUpTo, and
following changes: Watch,
LatestChange) are its methods. Code that should work with any
backend takes a Backend; the Store is one.

sqlite.Open is the embedded default, for tests and single machines: one
file, no server, several processes at once (":memory:" gives a private
in-memory database). It needs cgo. For a server, use postgres.Open (pgx) or
mysql.Open (MySQL 8, MariaDB 10.2 and later); neither needs cgo:

	store, err := statebackend.Open(postgres.Open("postgres://user:pass@db:5432/app"))
	store, err := statebackend.Open(mysql.Open("user:pass@tcp(db:3306)/app"))

Open takes any gorm.Dialector. The dialectors of the database packages also
implement dialect.Database, the driver contract, through which they tell
Open how to use their database (column types, retries, pool, group
commit); any other dialector gets conservative defaults.

# Schema versions

The schema is versioned: Open creates the tables of a new app, recognizes
and records the tables v0.1.0 created as version 1, and applies the
migrations an older database lacks, under a lock, so that processes
opening an old database at once migrate it once. WithoutAutoMigrate makes
Open only check the version; package migrations lists every version, and
its Migrator migrates as a separate step:

	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	m, err := migrations.NewMigrator(db, migrations.Config{AppID: "orders"})
	res, err := m.Migrate(ctx, migrations.Options{})

# Browsing

Store.ListInvocations (state.Browser) finds invocations by their current
status (the last record of their history), task, workflow, parent, runner
context and time, a keyset-paginated page at a time, newest change first;
CountInvocations counts them per status (and task), exactly;
CountInvocationsUpTo (state.BoundedCounter) counts them only when at most
a limit match, in a time that grows with the limit;
StuckInvocations finds those in a status for longer than a duration. The
database keeps each invocation's current status in the transaction that
writes its history (schema version 3), so none of them reads the history:

	page, err := store.ListInvocations(ctx, state.InvocationFilter{
		Statuses: []state.Status{state.StatusFailed},
	}, state.PageRequest{Limit: 50})
	// page.Next, when not empty, is the After of the next page's request

# Following changes

Store.Watch (state.Watcher) streams the committed changes (history records,
results, exceptions, new workflow runs) as an iterator, each with a cursor:
a consumer that resumes from the cursor of the last change it processed
gets every later change exactly once, and each invocation's changes in
the order they committed. The database records each change in the
transaction of its write (schema version 4); Postgres wakes a following
watch with NOTIFY, the others poll:

	for ch, err := range store.Watch(ctx, state.WatchRequest{After: cursor, Follow: true}) {
		if err != nil {
			return err // ctx ended, ErrCursorExpired (retention deleted what followed the cursor), ...
		}
		handle(ch)
		cursor = ch.Cursor
	}

# Retention

Store.Prune (state.Pruner) deletes finished top-level workflow runs (with
everything under them) older than a cutoff, in small batches, never live
work. WithRetention runs it in the background, one process per database at
a time:

	store, err := statebackend.Open(sqlite.Open("state.db"),
		statebackend.WithRetention(statebackend.Retention{OlderThan: 30 * 24 * time.Hour}))

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
	err = store.UpsertInvocations(ctx, []statebackend.Invocation{inv})

	now := time.Now()
	err = store.AddHistory(ctx, []statebackend.InvocationID{"inv-1"}, statebackend.InvocationHistory{
		Timestamp:    now,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, Timestamp: now},
	})
	history, err := store.History(ctx, "inv-1") // ascending by timestamp

	err = store.SetResult(ctx, "inv-1", []byte(`42`)) // stored byte for byte

Results, exceptions and workflow data are opaque bytes, already serialized by
the caller. History records use pynenc's JSON form, so they can be exchanged
with Python.

# Errors

Errors wrap four sentinels; test for them with errors.Is, never by text:

  - ErrNotFound: a missing invocation, result, exception, app info, runner
    context or workflow data entry;
  - ErrInvalidArgument: the input was refused (empty or oversized ids,
    invalid UTF-8, unknown statuses, bad time ranges...); the message names
    the field and nothing was written;
  - ErrClosed: a call after Close;
  - ErrReadOnly: a write to a database that refuses writes (a SQLite file
    opened read-only, a read-only file system, a read-only
    server or session).

Database failures come wrapped as "statebackend: <Operation>: <driver
error>".

# Deadlines and failed calls

Every call returns within its context's deadline, give or take a few
milliseconds (on SQLite, at most its 20 ms busy timeout and the statement
in flight), whether it waits for a lock another process holds, for writes
of its own process queued before it, or for a server that stopped
answering; it then returns "statebackend: <Operation>: context deadline
exceeded", wrapping the context's error (errors.Is with
context.DeadlineExceeded or context.Canceled). A call without a deadline
waits for another process's SQLite lock for up to a minute.

A call that fails on its deadline or a lost connection may or may not
have been committed: the server may have committed it and the answer been
lost. Every write is idempotent, so the remedy is to retry it with the
same arguments.

	result, err := store.Result(ctx, "inv-1")
	if errors.Is(err, statebackend.ErrNotFound) {
		// not finished yet
	}

# Time ranges

HistoryInTimeRange and InvocationIDsInTimeRange are Go iterators that fetch
one batch per step with keyset pagination: each batch costs the same however
far the iteration has gone, memory stays bounded, and records written during
the iteration never make it skip or repeat one that existed when it began.

	for batch, err := range store.HistoryInTimeRange(ctx, from, to, 500) {
		if err != nil {
			return err
		}
		for _, h := range batch {
			...
		}
	}

# Concurrency

A Store is safe for concurrent use by many goroutines, and several
processes may share one database. On SQLite, which takes one writer at a
time, a process's writes go through one committer that commits the writes
arriving together in one transaction (group commit), with their history
records in one insert; each call still returns only after its own write is
committed, and a write that fails never fails another. Deadlocks and
serialization failures are retried with backoff, and a lock another
process holds is waited for under the caller's context. Batches are written in ascending key order, so concurrent writers
do not deadlock each other.

# Observability

The backend records an OpenTelemetry span per call (statebackend.AddHistory,
statebackend.Result, ...; one per page for the time-range iterators) with
the database semantic conventions' attributes, and metrics: call durations
by operation and outcome, retries by reason, commit group sizes, rows
purged, and connection pool gauges. It uses the OpenTelemetry API only,
through the global providers unless WithTracerProvider and
WithMeterProvider say otherwise, so nothing is recorded until the
application installs an SDK; WithoutTelemetry leaves the instrumentation
out. A missing entity (ErrNotFound) is an ordinary answer, not an error
status. docs/observability.md lists every name.

# Beyond one server

Range scans, app discovery and workflow listings can be served by Postgres
streaming replicas, within a lag bound, while every other read and every
write goes to the primary; a backend always reads its own writes, and a
replica that is down or behind sends its reads back to the primary:

	store, err := statebackend.Open(postgres.Open(primaryDSN),
		statebackend.WithReadReplicas(postgres.Open(replicaDSN)))

Store.Replicas reports each replica's lag. On a MariaDB Galera cluster,
open each process's backend on any node with mysql.Open(nodeDSN):
conflicts between nodes are retried like deadlocks.

# Your own backend

The contract is the Backend interface (declared in package state, which
imports nothing but the standard library), with optional interfaces for
what a backend may lack (state.Pruner, state.HistoryImporter,
state.Browser, state.CountEstimator, state.BoundedCounter,
state.Watcher). Package
conformance is the test suite every backend here passes; run it against
yours (its package documentation is the guide):

	func TestConformance(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			Open: func(t testing.TB, appID string) state.Backend { ... },
		})
	}

examples/memorybackend is a complete backend written to be read.
*/
package statebackend
