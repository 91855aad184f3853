// Package mysqltest provisions a MySQL or MariaDB database for tests of the
// GORM implementation. In order of preference:
//
//   - the DSN in STATEBACKEND_TEST_MYSQL_DSN (go-sql-driver form,
//     "user:pass@tcp(host:3306)/db"; the server needs max_allowed_packet of
//     at least 128 MiB for the suite's 64 MiB payloads);
//   - a container started through testcontainers-go when a Docker engine
//     answers, from the image in STATEBACKEND_TEST_MYSQL_IMAGE (default
//     "mariadb:11"): one per test binary, shared by its tests;
//   - otherwise the test is skipped, with a message saying how to enable it,
//     or fails when STATEBACKEND_TEST_REQUIRE (comma-separated) names
//     "mysql".
//
// Every test uses the one database and isolates itself by app id (table
// prefix), so tests can run in parallel. A package whose tests use mysqltest
// removes the container at the end with
//
//	func TestMain(m *testing.M) { mysqltest.Main(m) }
//
// or by calling Terminate after m.Run.
//
// The container runs any image that follows the official mariadb (or mysql)
// image's conventions: MARIADB_* / MYSQL_* variables for the credentials,
// server flags as the command, port 3306.
package mysqltest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/internal/testdb"
	sbmysql "github.com/taskstate/statebackend/mysql"
)

// Environment variables read by DSN.
const (
	DSNEnv   = "STATEBACKEND_TEST_MYSQL_DSN"
	ImageEnv = "STATEBACKEND_TEST_MYSQL_IMAGE"
)

// DefaultImage is the image started when ImageEnv is not set.
const DefaultImage = "mariadb:11"

var server = &testdb.Server{
	Name:         "mysql",
	Title:        "MySQL/MariaDB",
	DSNEnv:       DSNEnv,
	ImageEnv:     ImageEnv,
	DefaultImage: DefaultImage,
	Start:        start,
}

// DSN returns the DSN of the shared test database: DSNEnv's value, or that
// of the container it starts on first use. Without either it skips t (fails
// it when STATEBACKEND_TEST_REQUIRE names "mysql"); a container that cannot
// start fails t, with the end of the container's log.
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

func dialector(dsn string) gorm.Dialector { return sbmysql.Open(dsn) }

// Credentials of the container's database.
const (
	user     = "statebackend"
	password = "statebackend"
	database = "statebackend"
)

// serverFlags are the container's command: the official images and the CI's
// local image take server flags as arguments.
var serverFlags = []string{
	// The suite stores 64 MiB payloads; InnoDB wants the redo log well above
	// the largest row.
	"--max-allowed-packet=256M",
	"--innodb-log-file-size=256M",
	// A throwaway database: durability does not matter, speed does.
	"--innodb-flush-log-at-trx-commit=0",
	"--innodb-doublewrite=0",
	"--skip-name-resolve",
	"--max-connections=300",
	// A case-insensitive server default, as most servers have, so the suite
	// proves the schema itself makes ids byte-exact.
	"--character-set-server=utf8mb4",
	"--collation-server=utf8mb4_general_ci",
}

func start(ctx context.Context, image string) (testcontainers.Container, string, error) {
	dsnAt := func(host, port string) string {
		cfg := gomysql.NewConfig()
		cfg.User, cfg.Passwd = user, password
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
		cfg.DBName = database
		cfg.Timeout = 5 * time.Second
		return cfg.FormatDSN()
	}
	ctr, err := testcontainers.Run(ctx, image,
		testcontainers.WithEnv(map[string]string{
			"MARIADB_ROOT_PASSWORD": password,
			"MARIADB_DATABASE":      database,
			"MARIADB_USER":          user,
			"MARIADB_PASSWORD":      password,
			// The same for images that only know the MySQL names.
			"MYSQL_ROOT_PASSWORD": password,
			"MYSQL_DATABASE":      database,
			"MYSQL_USER":          user,
			"MYSQL_PASSWORD":      password,
		}),
		testcontainers.WithExposedPorts("3306/tcp"),
		testcontainers.WithCmd(serverFlags...),
		// The images run a temporary server without networking while they
		// create the database, so the port listens only once the real server
		// runs; the SQL ping then proves it accepts the test user.
		testcontainers.WithWaitStrategyAndDeadline(testdb.StartTimeout,
			wait.ForListeningPort("3306/tcp"),
			wait.ForSQL("3306/tcp", "mysql", func(host string, port network.Port) string {
				return dsnAt(host, port.Port())
			}).WithStartupTimeout(testdb.StartTimeout).WithPollInterval(500*time.Millisecond),
		),
	)
	if ctr == nil {
		return nil, "", err
	}
	if err != nil {
		return ctr, "", err
	}
	host, err := ctr.Host(ctx)
	if err != nil {
		return ctr, "", fmt.Errorf("container host: %w", err)
	}
	port, err := ctr.MappedPort(ctx, "3306/tcp")
	if err != nil {
		return ctr, "", fmt.Errorf("container port: %w", err)
	}
	return ctr, dsnAt(host, port.Port()), nil
}
