// Package conformance is the exported test suite every state backend runs:
// the GORM implementation on SQLite, Postgres and MySQL, and any third
// party's implementation of state.Backend (Redis, DynamoDB, a service, a fork
// of the GORM one), which can prove this way that it behaves like ours. The
// package imports no database driver and no container library, so depending
// on it costs a third party nothing; provisioning helpers for the GORM
// implementation live in the sqlitetest, pgtest and mysqltest subpackages,
// and pgreplicatest and galeratest start a replicated Postgres and a Galera
// cluster.
//
// # The few lines you write
//
// A backend's test supplies a Harness and calls Run:
//
//	package mybackend_test
//
//	import (
//		"testing"
//
//		"github.com/taskstate/statebackend/conformance"
//		"github.com/taskstate/statebackend/state"
//
//		"example.com/mybackend"
//	)
//
//	func TestConformance(t *testing.T) {
//		store := mybackend.NewTestStore(t) // one shared store for the whole run
//		conformance.Run(t, conformance.Harness{
//			Open: func(t testing.TB, appID string) state.Backend {
//				b := store.Open(appID) // a backend for appID over that store
//				t.Cleanup(func() { _ = b.Close() })
//				return b
//			},
//		})
//	}
//
// examples/memorybackend is a complete backend (maps and a mutex, no SQL)
// written to be read, with exactly this test; its package documentation
// walks through what each method has to do.
//
// # What the harness must provide
//
// Harness.Open(t, appID) is called by every test, often several times, from
// parallel tests. It must:
//
//   - open over one shared store. Every backend the harness returns uses the
//     same underlying database (or service, or store). The suite isolates its
//     tests from each other by giving each its own app ids (NewAppID), so
//     they can run in parallel over one database.
//   - isolate by app id. Backends opened with the same app id see the same
//     data; backends with different app ids see none of each other's, and
//     Purge on one leaves the others untouched. The only thing that crosses
//     apps is DiscoverAppInfos, which lists the app infos of every app in the
//     store. The isolation tests open two app ids side by side.
//   - support the default app id "". One test opens the default app (for the
//     GORM implementation: pynenc's table names without a prefix). If your
//     backend has no default app, set Features.NoDefaultApp.
//   - close at cleanup. Register the backend's Close with t.Cleanup on the t
//     you are given (it is the test that opened the backend, not the
//     top-level one), so backends close as their tests end. Closing a backend
//     must not delete its data: another backend of the same app id may still
//     be using it.
//   - start empty for a new app id, creating whatever schema it needs.
//   - fail the test with t.Fatal if it cannot open a backend; never return
//     nil.
//
// # Running one group
//
// The suite is grouped by area: invocations, history, timerange, payloads,
// workflows, runners, appinfo, purge, isolation, validation, lifecycle,
// concurrency, dialect, retention, browse and watch (Groups lists them). Run runs
// every test as a parallel subtest named "<group>/<test>", so while you work
// on one area select it on the command line:
//
//	go test -run 'TestConformance/history' ./...
//	go test -run 'TestConformance/timerange/bounds_inclusive' ./...
//
// or run a group from code with RunGroup:
//
//	func TestHistory(t *testing.T) {
//		conformance.RunGroup(t, harness, "history")
//	}
//
// Tests returns every test on its own (Group, Name, Run), to run a chosen few.
//
// # Features: what your backend may lack
//
// Harness.Features lists optional behaviour. The zero value claims
// everything; set a flag only for what your backend really cannot do, and the
// tests that need it are skipped with a message naming the flag (visible in
// go test -v):
//
//   - NoLargePayloads: your store cannot hold 64 MiB values (results,
//     exceptions, workflow data); skips the tests that store 64 MiB payloads.
//   - NoDefaultApp: your backend has no default app id ""; skips the test
//     that opens the default app.
//   - NoWatch: your backend implements state.Watcher but refuses watches on
//     the database under test; skips the watch group.
//
// Retention, browsing and the change feed are optional too: the retention
// group skips, saying so, when the backend does not implement
// state.Pruner, the browse group when it does not implement state.Browser
// (a browser that also implements state.CountEstimator must count exactly
// whenever it says its counts are not estimates), and the watch group when
// it does not implement state.Watcher (its test of expired cursors needs
// state.Pruner too). Everything else is required: ordering, ErrNotFound,
// ErrInvalidArgument for invalid input, ErrClosed after Close, context
// cancellation, microsecond UTC timestamps, keyset-paginated time ranges,
// literal substring matching, per-app purge.
//
// # The suite can fail
//
// selftest_test.go runs the suite against deliberately broken backends (the
// memory backend wrapped to break one promise each: history in the wrong
// order, nil instead of ErrNotFound, a purge leaking into another app, _
// treated as a wildcard, an exclusive time bound, an iterator that skips or
// repeats across batches, a pruner exceeding its batch size, a browser
// taking the last record written for the current status, a watch that
// repeats a change on resume or never ends without Follow, ...) and checks
// that each is caught by a failing test of the right group. A suite that
// passes your backend has actually checked it.
package conformance
