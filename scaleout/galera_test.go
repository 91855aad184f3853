package scaleout_test

// The conformance suite against each node of a real three-node MariaDB
// Galera cluster (conformance/galeratest).

import (
	"fmt"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/state"
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
			// Watches are refused on Galera (a node cannot see the other
			// nodes' transactions in flight).
			features := conformance.Features{NoLargePayloads: i > 0, NoWatch: true}
			conformance.Run(t, conformance.Harness{Features: features, Open: func(tb testing.TB, appID string) statebackend.Backend {
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

// TestGaleraRefusesWatches checks that a watch on a Galera node fails at
// once with an error that says why, rather than following a feed whose
// gaps it cannot settle.
func TestGaleraRefusesWatches(t *testing.T) {
	t.Parallel()
	c := galeratest.Shared(t)
	b, err := statebackend.Open(mysql.Open(c.NodeDSNs()[0]), statebackend.WithAppID(conformance.NewAppID()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	for _, err := range b.Watch(t.Context(), state.WatchRequest{}) {
		n++
		if err == nil || !strings.Contains(err.Error(), "Galera") {
			t.Fatalf("a watch on a Galera node yielded %v, want an error naming Galera", err)
		}
	}
	if n != 1 {
		t.Fatalf("the watch yielded %d elements, want its error alone", n)
	}
	if _, err := b.LatestChange(t.Context()); err == nil || !strings.Contains(err.Error(), "Galera") {
		t.Fatalf("LatestChange on a Galera node: %v, want an error naming Galera", err)
	}
}

// TestGaleraRetriesMissingTable checks that the mysql dialect, connected
// to a Galera node, retries a table reported missing: under contention a
// node now and then reports a table a trigger writes as missing, and the
// next attempt finds it. On other servers the error is final
// (mysql.TestRepairFlushesAfterTriggerLoad).
func TestGaleraRetriesMissingTable(t *testing.T) {
	t.Parallel()
	c := galeratest.Shared(t)
	d := mysql.Open(c.NodeDSNs()[1])
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	missing := &gomysql.MySQLError{Number: 1146, Message: "Table 'statebackend.t' doesn't exist"}
	if reason := d.Dialect().Transient(missing); reason != "missing_table" {
		t.Fatalf("a missing table on a Galera node is %q, want missing_table (retried)", reason)
	}
}
