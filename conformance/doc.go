// Package conformance is the exported test suite every state backend runs:
// the GORM implementation on SQLite, Postgres and MySQL, and any third
// party's implementation of state.Backend.
//
// A backend's test supplies a Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			Open: func(t testing.TB, appID string) state.Backend {
//				b := mybackend.New(appID) // a fresh view of the shared store
//				t.Cleanup(func() { b.Close() })
//				return b
//			},
//		})
//	}
//
// Run runs every test as a parallel subtest, grouped by area
// (t.Run("history/...")); RunGroup runs one group. Each test opens its
// backends with app ids of its own, so tests share one database without
// seeing each other; the isolation tests open two app ids side by side, and
// one test uses the default app id "".
//
// The package imports no database driver and no container library, so
// depending on it costs a third party nothing; provisioning helpers for the
// GORM implementation live in the sqlitetest, pgtest and mysqltest
// subpackages.
package conformance
