package memorybackend_test

import (
	"testing"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/state"
)

// TestConformance runs the whole conformance suite against the memory
// backend. Every backend the suite opens comes from one Store, as every
// backend of a SQL implementation comes from one database; each closes when
// the test that opened it ends.
func TestConformance(t *testing.T) {
	t.Parallel()
	store := memorybackend.NewStore()
	conformance.Run(t, conformance.Harness{
		Open: func(t testing.TB, appID string) state.Backend {
			b := store.Open(appID)
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}
