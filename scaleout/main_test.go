// Package scaleout_test tests the GORM backend beyond one database server,
// against real servers started from the machine's Debian packages (see
// conformance/pgreplicatest and conformance/galeratest):
//
//   - read replicas: the conformance suite through backends that read from
//     a Postgres streaming replica, and the replica paused (lagging past the
//     bound), stopped and restarted under them;
//   - Galera: the conformance suite through each node of a three-node
//     MariaDB Galera cluster at once.
//
// The tests skip without the packages (bash .ci/scaleout.sh installs them,
// as root), or fail when STATEBACKEND_TEST_REQUIRE names pgreplica or
// galera. They live in a package of their own so that their servers and
// their time (several minutes) stay out of the root package's tests. The
// contention test through the Galera nodes is in package reliability; a
// certification conflict at COMMIT, which needs the backend's internals, in
// the root package.
package scaleout_test

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/conformance/pgreplicatest"
)

// TestMain stops the shared servers the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, terminate := range []func() error{pgreplicatest.Terminate, galeratest.Terminate} {
		if err := terminate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
