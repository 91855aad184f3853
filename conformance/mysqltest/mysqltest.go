// Package mysqltest provisions a MySQL or MariaDB database for tests of the
// GORM implementation. In order of preference:
//
//   - the DSN in STATEBACKEND_TEST_MYSQL_DSN (go-sql-driver form,
//     "user:pass@tcp(host:3306)/db"; the server needs max_allowed_packet of
//     at least 128 MiB for the suite's 64 MiB payloads);
//   - a container started with the docker command when a Docker engine
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
// server flags as the command, port 3306, and a temporary server without
// networking while the database is created.
package mysqltest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/internal/testdb"
	sbmysql "github.com/taskstate/statebackend/mysql"
)

// Environment variables read by DSN, and the image it starts by default.
const (
	DSNEnv       = "STATEBACKEND_TEST_MYSQL_DSN"
	ImageEnv     = "STATEBACKEND_TEST_MYSQL_IMAGE"
	DefaultImage = "mariadb:11"
)

// containerDSN returns the DSN of the container's database at addr.
func containerDSN(addr string) string {
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd = testdb.User, testdb.Password
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.DBName = testdb.Database
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// connector connects to the database at dsn without the driver's log, which
// would show every connection refused while the container starts.
func connector(dsn string) (driver.Connector, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Logger = &gomysql.NopLogger{}
	return gomysql.NewConnector(cfg)
}

// server is the test binary's MySQL or MariaDB: a container of an image
// with the official mariadb (or mysql) image's conventions.
var server = &testdb.Server{
	Name: "mysql", Title: "MySQL/MariaDB",
	DSNEnv: DSNEnv, ImageEnv: ImageEnv, DefaultImage: DefaultImage,
	Dialector: func(dsn string) gorm.Dialector { return sbmysql.Open(dsn) },

	Env: []string{
		"MARIADB_ROOT_PASSWORD=" + testdb.Password,
		"MARIADB_DATABASE=" + testdb.Database,
		"MARIADB_USER=" + testdb.User,
		"MARIADB_PASSWORD=" + testdb.Password,
		// The same for images that only know the MySQL names.
		"MYSQL_ROOT_PASSWORD=" + testdb.Password,
		"MYSQL_DATABASE=" + testdb.Database,
		"MYSQL_USER=" + testdb.User,
		"MYSQL_PASSWORD=" + testdb.Password,
	},
	Port:         "3306",
	Connector:    connector,
	ContainerDSN: containerDSN,
	Cmd:          serverFlags,
	Ready:        grantProcess,
}

// grantProcess gives the test user the PROCESS privilege, which following
// changes needs (it lists the transactions in flight).
func grantProcess(ctx context.Context, addr string) error {
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd = "root", testdb.Password
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.Timeout = 5 * time.Second
	cfg.Logger = &gomysql.NopLogger{}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	_, err = db.ExecContext(ctx, "GRANT PROCESS ON *.* TO '"+testdb.User+"'@'%'")
	return err
}

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

// The functions below are the server's methods (see testdb.Server), the
// same in pgtest and mysqltest.

// DSN returns the DSN of the shared test database: DSNEnv's value, or
// that of the container it starts on first use. Without either it skips
// t (fails it when STATEBACKEND_TEST_REQUIRE names "mysql"); a container
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
