// Package memorybackend is a complete state.Backend kept in memory: maps
// behind one sync.RWMutex, no SQL and no ORM. It passes the whole
// conformance suite and is written to be read: it is the model for anyone
// writing a backend of their own (Redis, DynamoDB, a service...).
//
// # Shape
//
// A Store plays the database: it holds the data of every app. Store.Open
// returns a Backend for one app id. Backends opened with the same app id
// share data; different app ids are isolated, except that DiscoverAppInfos
// lists the infos of every app in the store. The empty app id is the default
// app. Your backend needs the same split, because the conformance harness
// opens many backends, for many app ids, over one store.
//
// # One file per concept
//
//	store.go         Store, Open, Backend, Close, and the check/read/write helpers
//	app.go           the per-app "tables"
//	invocations.go   upserts and invocation queries
//	history.go       AddHistory and History
//	historytable.go  the history records with their time and invocation indexes
//	timerange.go     the two batched time-range iterators
//	payloads.go      results and exceptions
//	workflows.go     workflow runs, data and sub-invocations
//	runners.go       runner contexts and their parent chains
//	appinfo.go       app info and discovery
//	purge.go         Purge
//	retention.go     Prune (the optional state.Pruner)
//	browse.go        listing, counting and finding stuck invocations by
//	                 their current status (the optional state.Browser)
//	changes.go       the change log every write appends to, in commit order
//	watch.go         Watch and LatestChange: the change feed (the optional
//	                 state.Watcher)
//
// # What every method does
//
// Each method follows the same steps, and a new backend should too:
//
//  1. Fail with state.ErrClosed after Close, and with the context's error
//     when it is done (Backend.check).
//  2. Validate the input with the state package: the Validate methods of
//     the domain types, state.ValidateBatchIDs, state.ValidateKey,
//     state.ValidateRequiredKey, state.ValidateTimeRange. They return errors
//     wrapping state.ErrInvalidArgument that name the field; return them
//     before writing anything, so a bad batch writes nothing.
//  3. Do the work atomically (here: under the store's lock).
//  4. Report a missing entity with state.NotFound, which wraps
//     state.ErrNotFound.
//
// And what the data needs:
//
//   - Copy on the way in and on the way out: never keep a caller's slice or
//     map, never return one of yours. An invocation without arguments reads
//     back with an empty, non-nil map; an empty payload as an empty slice.
//   - Keep timestamps to the microsecond and return them in UTC
//     (state.ToMicros and state.FromMicros).
//   - Order history by (timestamp, insertion sequence): equal timestamps keep
//     the order they were written in. Writing the same (invocation,
//     timestamp, status) again replaces the record's content in its place.
//   - Page the time-range iterators with a cursor, never an offset: the last
//     (timestamp, sequence) or the last invocation id of a batch, and read
//     each batch afresh. Bounds are inclusive at both ends.
//   - Return sorted results exactly as state.Backend documents, each id
//     once; sub-invocations are a set.
//   - Match runner ids with a literal, case-sensitive substring test.
//   - Store a runner context as one row per runner naming its parent, and
//     resolve the chain when reading.
//   - Purge only this app's data, all of it.
//   - For the change feed, number the changes in commit order in the same
//     atomic step as the write that makes them, and keep numbering across
//     purges and prunes, so a cursor always names one change and can tell
//     when changes after it were deleted (ErrCursorExpired).
//
// # Running the conformance suite
//
// The test of this package is the whole recipe (see memorybackend_test.go):
//
//	func TestConformance(t *testing.T) {
//		store := memorybackend.NewStore()
//		conformance.Run(t, conformance.Harness{
//			Open: func(t testing.TB, appID string) state.Backend {
//				b := store.Open(appID)
//				t.Cleanup(func() { _ = b.Close() })
//				return b
//			},
//		})
//	}
//
// Run one group while you work on it with conformance.RunGroup, or select it
// on the command line: go test -run 'TestConformance/history'.
package memorybackend
