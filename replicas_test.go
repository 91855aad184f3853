package statebackend_test

// Read replica options checked without servers; the replicas themselves are
// tested against a real primary and replica in package scaleout.

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// TestReadReplicaOptionsRefused checks that Open refuses replicas it
// cannot use, before connecting to anything.
func TestReadReplicaOptionsRefused(t *testing.T) {
	t.Parallel()
	const unreachable = "postgres://u:p@127.0.0.1:1/db?connect_timeout=1"
	pg := func() dialect.Database { return postgres.Open(unreachable) }
	lite := func() dialect.Database { return sqlite.Open(":memory:") }
	cases := []struct {
		name     string
		primary  dialect.Database
		replicas []gorm.Dialector
		settings statebackend.ReplicaSettings
		field    string
	}{
		{"database without replication positions", lite(), []gorm.Dialector{lite()}, statebackend.ReplicaSettings{}, "replicas"},
		{"nil replica", pg(), []gorm.Dialector{nil}, statebackend.ReplicaSettings{}, "replicas[0]"},
		{"replica of another database", pg(), []gorm.Dialector{pg(), lite()}, statebackend.ReplicaSettings{}, "replicas[1]"},
		{"negative lag", pg(), []gorm.Dialector{pg()}, statebackend.ReplicaSettings{MaxLag: -time.Second}, "MaxLag"},
		{"negative check interval", pg(), []gorm.Dialector{pg()}, statebackend.ReplicaSettings{CheckInterval: -time.Second}, "CheckInterval"},
		{"check interval past half the lag", pg(), []gorm.Dialector{pg()},
			statebackend.ReplicaSettings{MaxLag: time.Second, CheckInterval: 600 * time.Millisecond}, "CheckInterval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := statebackend.Open(tc.primary,
				statebackend.WithReadReplicas(tc.replicas...), statebackend.WithReplicaSettings(tc.settings))
			if err == nil {
				_ = b.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, statebackend.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Open: %v, want ErrInvalidArgument naming %s", err, tc.field)
			}
		})
	}
}

// TestReplicasWithoutReplicas: a backend without replicas has no
// status, and a closed one says so.
func TestReplicasWithoutReplicas(t *testing.T) {
	t.Parallel()
	b, err := statebackend.Open(sqlite.Open(":memory:"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Replicas(t.Context())
	if err != nil || st != nil {
		t.Fatalf("Store.Replicas without replicas: %v, %v; want nil, nil", st, err)
	}
	_ = b.Close()
	if _, err := b.Replicas(t.Context()); !errors.Is(err, statebackend.ErrClosed) {
		t.Fatalf("Store.Replicas after Close: %v, want ErrClosed", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
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
