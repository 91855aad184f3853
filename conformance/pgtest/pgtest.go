// Package pgtest provisions a Postgres database for tests of the GORM
// implementation. In order of preference:
//
//   - the DSN in STATEBACKEND_TEST_POSTGRES_DSN (a URL or key=value string);
//   - a container started with the docker command when a Docker engine
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
// or by calling Terminate after m.Run.
//
// The container runs any image that follows the official postgres image's
// conventions: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB for the
// database to create, `postgres` and server flags as the command, port
// 5432, and a temporary server without TCP while the database is created.
package pgtest

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/internal/testdb"
	sbpostgres "github.com/taskstate/statebackend/postgres"
)

// Environment variables read by DSN, and the image it starts by default.
const (
	DSNEnv       = "STATEBACKEND_TEST_POSTGRES_DSN"
	ImageEnv     = "STATEBACKEND_TEST_POSTGRES_IMAGE"
	DefaultImage = "postgres:16-alpine"
)

// containerDSN returns the DSN of the container's database at addr.
func containerDSN(addr string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", testdb.User, testdb.Password, addr, testdb.Database)
}

// connector connects to the database at dsn.
func connector(dsn string) (driver.Connector, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.GetConnector(*cfg), nil
}

// server is the test binary's Postgres: a container of an image with the
// official postgres image's conventions.
var server = &testdb.Server{
	Name: "postgres", Title: "Postgres",
	DSNEnv: DSNEnv, ImageEnv: ImageEnv, DefaultImage: DefaultImage,
	Dialector: func(dsn string) gorm.Dialector { return sbpostgres.Open(dsn) },

	Env:          []string{"POSTGRES_USER=" + testdb.User, "POSTGRES_PASSWORD=" + testdb.Password, "POSTGRES_DB=" + testdb.Database},
	Port:         "5432",
	Connector:    connector,
	ContainerDSN: containerDSN,
	// Durability is irrelevant for a throwaway database; the parallel
	// suite opens many pools at once.
	Cmd: []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300"},
}

// The functions below are the server's methods (see testdb.Server), the
// same in pgtest and mysqltest.

// DSN returns the DSN of the shared test database: DSNEnv's value, or
// that of the container it starts on first use. Without either it skips
// t (fails it when STATEBACKEND_TEST_REQUIRE names "postgres"); a container
// that cannot start fails t, with the end of the container's log.
var DSN func(t testing.TB) string = server.DSN

// Terminate stops and removes the container DSN started, if any. Call it
// after m.Run in TestMain (or use Main).
var Terminate func() error = server.Terminate

// Main runs the tests of m, terminates the container and exits.
var Main func(m *testing.M) = server.Main

// Open opens a backend for appID on the shared database and closes it
// when t ends. It skips or fails t as DSN does.
var Open func(t testing.TB, appID string, opts ...statebackend.Option) *statebackend.Store = server.Open

// Harness returns a conformance harness whose backends share the test
// database. It provisions the database at once, so a missing one skips
// (or fails) t itself rather than every test of the suite.
var Harness func(t testing.TB, opts ...statebackend.Option) conformance.Harness = server.Harness
