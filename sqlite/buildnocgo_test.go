//go:build !cgo

package sqlite_test

// testHasCgo says the test binary was built with cgo: it can build a helper
// that uses go-sqlite3.
const testHasCgo = false
