package conformance_test

import (
	"testing"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	conformance.Run(t, sqlitetest.Harness(t))
}
