// Package sqlitetest provisions SQLite databases for tests of the GORM
// implementation: a temporary file per harness, removed with the test.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// Path returns the path of a new, empty database file in t's temporary
// directory.
func Path(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state.db")
}

// Open opens a backend for appID on the SQLite file at path and closes it
// when t ends.
func Open(t testing.TB, path, appID string, opts ...statebackend.Option) *statebackend.Store {
	t.Helper()
	opts = append([]statebackend.Option{statebackend.WithAppID(appID)}, opts...)
	b, err := statebackend.Open(sqlite.Open(path), opts...)
	if err != nil {
		t.Fatalf("sqlitetest: open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Harness returns a conformance harness whose backends share one new SQLite
// file, removed when t ends.
func Harness(t testing.TB, opts ...statebackend.Option) conformance.Harness {
	t.Helper()
	path := Path(t)
	return conformance.Harness{
		Open: func(tb testing.TB, appID string) state.Backend {
			return Open(tb, path, appID, opts...)
		},
	}
}
