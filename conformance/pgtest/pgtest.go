// Package pgtest provisions a Postgres database for tests of the GORM
// implementation. In order of preference:
//
//   - the DSN in STATEBACKEND_TEST_POSTGRES_DSN (a URL or key=value string);
//   - a container started through testcontainers-go when a Docker engine
//     answers, from the image in STATEBACKEND_TEST_POSTGRES_IMAGE (default
//     "postgres:16-alpine"): one per test binary, shared by its tests;
//   - otherwise the test is skipped, with a message saying how to enable it,
//     or fails when STATEBACKEND_TEST_REQUIRE (comma-separated) names
//     "postgres".
//
// Every test uses the one database and isolates itself by app id (table
// prefix), so tests can run in parallel. A package whose tests use pgtest
// removes the container at the end with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// or by calling Terminate after m.Run. Where the reaper (Ryuk) cannot run,
// set TESTCONTAINERS_RYUK_DISABLED=true; with the tests themselves in a
// container, TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 may be needed too.
package pgtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/internal/testdb"
	sbpostgres "github.com/taskstate/statebackend/postgres"
)

// Environment variables read by DSN.
const (
	DSNEnv   = "STATEBACKEND_TEST_POSTGRES_DSN"
	ImageEnv = "STATEBACKEND_TEST_POSTGRES_IMAGE"
)

// DefaultImage is the image started when ImageEnv is not set.
const DefaultImage = "postgres:16-alpine"

var server = &testdb.Server{
	Name:         "postgres",
	Title:        "Postgres",
	DSNEnv:       DSNEnv,
	ImageEnv:     ImageEnv,
	DefaultImage: DefaultImage,
	Start:        start,
}

// DSN returns the DSN of the shared test database: DSNEnv's value, or that
// of the container it starts on first use. Without either it skips t (fails
// it when STATEBACKEND_TEST_REQUIRE names "postgres"); a container that
// cannot start fails t, with the end of the container's log.
func DSN(t testing.TB) string {
	t.Helper()
	return server.DSN(t)
}

// Terminate stops and removes the container DSN started, if any. Call it
// after m.Run in TestMain (or use Main).
func Terminate() error { return server.Terminate() }

// Main runs the tests of m, terminates the container and exits.
func Main(m *testing.M) { testdb.Main(m, server) }

// Open opens a backend for appID on the shared database and closes it when
// t ends. It skips or fails t as DSN does.
func Open(t testing.TB, appID string, opts ...statebackend.Option) *statebackend.Store {
	t.Helper()
	return server.Open(t, dialector, appID, opts...)
}

// Harness returns a conformance harness whose backends share the test
// database. It provisions the database at once, so a missing one skips (or
// fails) t itself rather than every test of the suite.
func Harness(t testing.TB, opts ...statebackend.Option) conformance.Harness {
	t.Helper()
	return server.Harness(t, dialector, opts...)
}

func dialector(dsn string) gorm.Dialector { return sbpostgres.Open(dsn) }

// Credentials of the container's database.
const (
	user     = "statebackend"
	password = "statebackend"
	database = "statebackend"
)

func start(ctx context.Context, image string) (testcontainers.Container, string, error) {
	ctr, err := postgres.Run(ctx, image,
		postgres.WithDatabase(database),
		postgres.WithUsername(user),
		postgres.WithPassword(password),
		// Durability is irrelevant for a throwaway database; the parallel
		// suite opens many pools at once.
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=300"),
		postgres.BasicWaitStrategies(),
	)
	if ctr == nil {
		return nil, "", err
	}
	if err != nil {
		return ctr, "", err
	}
	dsn, err := ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return ctr, "", fmt.Errorf("connection string: %w", err)
	}
	return ctr, dsn, nil
}
