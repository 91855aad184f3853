package scaleout_test

// The conformance suite against each node of a real three-node MariaDB
// Galera cluster (conformance/galeratest).

import (
	"fmt"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/mysql"
)

// TestGalera runs the conformance suite against every node of the cluster
// at once, each node's backends writing and reading through that node. The
// two tests of 64 MiB payloads run through node 0 only: their write sets
// reach every node from there, and each one stalls the whole cluster's
// commits while it replicates (flow control), which through three nodes
// doubles the test's time.
func TestGalera(t *testing.T) {
	t.Parallel()
	c := galeratest.Shared(t)
	for i, dsn := range c.NodeDSNs() {
		t.Run(fmt.Sprintf("node%d", i), func(t *testing.T) {
			t.Parallel()
			conformance.Run(t, conformance.Harness{Features: conformance.Features{NoLargePayloads: i > 0}, Open: func(tb testing.TB, appID string) statebackend.Backend {
				b, err := statebackend.Open(mysql.Open(dsn), statebackend.WithAppID(appID))
				if err != nil {
					tb.Fatalf("node %d: open app %q: %v", i, appID, err)
				}
				tb.Cleanup(func() { _ = b.Close() })
				return b
			}})
		})
	}
}
