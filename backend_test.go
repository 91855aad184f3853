package statebackend_test

// The GORM implementation's own conformance run: the whole suite on SQLite,
// and on Postgres and MySQL/MariaDB when a DSN or Docker is there (see
// conformance/pgtest and conformance/mysqltest). The suite through read
// replicas and through the nodes of a Galera cluster is in package scaleout.

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
	"github.com/taskstate/statebackend/internal/leakcheck"
)

// TestMain removes the database containers and servers the tests of this package
// started, and fails the run if a goroutine is left over: every backend
// the tests opened is closed by then.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, terminate := range []func() error{pgtest.Terminate, mysqltest.Terminate, galeratest.Terminate} {
		if err := terminate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	if code == 0 {
		if err := leakcheck.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	conformance.Run(t, sqlitetest.Harness(t))
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	conformance.Run(t, pgtest.Harness(t))
}

func TestMySQL(t *testing.T) {
	t.Parallel()
	conformance.Run(t, mysqltest.Harness(t))
}
