package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// Harness gives the suite backends to test.
type Harness struct {
	// Open returns a backend for appID over the harness's one shared store,
	// creating its schema if needed, and registers its Close with t.Cleanup.
	// Backends opened with the same appID see the same data; backends opened
	// with different app ids see none of each other's. appID "" is the
	// default app (for the GORM implementation: pynenc's table names).
	Open func(t testing.TB, appID string) state.Backend

	// Features describes what the backend lacks; the zero value claims
	// everything.
	Features Features
}

// Features lists optional behaviour a backend may lack. Tests that need a
// missing feature are skipped with a message naming it.
type Features struct {
	// NoLargePayloads skips the tests that store 64 MiB values.
	NoLargePayloads bool
	// NoDefaultApp skips the test of the default app id "".
	NoDefaultApp bool
	// NoWatch skips the watch group for a backend that implements
	// state.Watcher but refuses watches on its database (the Store on a
	// Galera cluster).
	NoWatch bool
}

// Test is one conformance test.
type Test struct {
	Group string // "invocations", "history", ...
	Name  string
	Run   func(t *testing.T, h Harness)
}

// Tests returns every test of the suite, in a stable order.
func Tests() []Test {
	var all []Test
	for _, g := range groups() {
		all = append(all, g...)
	}
	return all
}

// Groups returns the names of the test groups, in a stable order.
func Groups() []string {
	var names []string
	for _, t := range Tests() {
		if !slices.Contains(names, t.Group) {
			names = append(names, t.Group)
		}
	}
	return names
}

// Run runs every test of the suite against h, each as a parallel subtest
// named "<group>/<test>".
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, g := range Groups() {
		RunGroup(t, h, g)
	}
}

// RunGroup runs the tests of one group (see Groups) as parallel subtests.
// An unknown group fails the test.
func RunGroup(t *testing.T, h Harness, group string) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("conformance: Harness.Open is nil")
	}
	if !slices.Contains(Groups(), group) {
		t.Fatalf("conformance: no test group %q (have %v)", group, Groups())
	}
	t.Run(group, func(t *testing.T) {
		for _, tc := range Tests() {
			if tc.Group != group {
				continue
			}
			t.Run(tc.Name, func(t *testing.T) {
				t.Parallel()
				tc.Run(t, h)
			})
		}
	})
}

// NewAppID returns a fresh app id, short enough that table prefixes stay
// within every database's identifier limit.
func NewAppID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "ct_" + hex.EncodeToString(b)
}

// open returns a backend over a fresh app id.
func open(t *testing.T, h Harness) state.Backend {
	t.Helper()
	b := h.Open(t, NewAppID())
	if b == nil {
		t.Fatal("conformance: Harness.Open returned nil")
	}
	return b
}
