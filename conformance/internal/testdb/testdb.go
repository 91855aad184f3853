// Package testdb holds what pgtest and mysqltest share: choosing between a
// DSN from the environment, a container started once per test binary, and a
// skip (or a failure, when the environment requires the database).
//
// # Containers through the docker command
//
// The container is started, inspected and removed by running the docker
// command line (docker info, image inspect, pull, run, port, logs, rm),
// not through a Docker client library such as testcontainers-go, which
// did it before. The reason is the library's module graph: this package
// belongs to the library's module, so whatever it requires, every program
// that requires the library finds in its own module graph and go.sum.
// testcontainers-go's Docker client brought in the OpenTelemetry SDK,
// otelhttp, the Moby client and about fifty other modules, none of which the
// library uses. Without it, `go mod graph` of the library's module went
// from 478 lines to 154, and its go.sum from 85 modules (174 lines) to 34
// (66 lines).
//
// Readiness is tested by connecting: the server's own driver (pgx,
// go-sql-driver) connects to the published port until the database
// answers, under StartTimeout. The official images and the CI's local
// images create the database on a temporary server that listens on no TCP
// port, so the first connection that succeeds is to the real server, with
// the database and its user in place.
//
// A container is removed by Terminate (Server.Main calls it), or at once
// when the test binary gets SIGINT or SIGTERM. A test binary killed
// otherwise (SIGKILL, go test's -timeout) leaves its container running; it
// carries the label io.statebackend.testdb, with the binary's process id.
package testdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/state"
)

// RequireEnv names the environment variable listing, comma-separated, the
// databases whose tests must fail instead of skipping when unavailable.
const RequireEnv = "STATEBACKEND_TEST_REQUIRE"

// StartTimeout bounds starting a container, from creation to readiness.
const StartTimeout = 3 * time.Minute

// The credentials of a container's database: its user (which owns the
// database), the user's password, and the database's name.
const (
	User     = "statebackend"
	Password = "statebackend"
	Database = "statebackend"
)

// Server provisions one database for the tests of a test binary: the
// database of a DSN from the environment, or of a container it starts on
// first use. The first fields say what the tests call the database and
// where its settings come from, the others how to run the container.
type Server struct {
	Name         string // "postgres" or "mysql": the name in RequireEnv
	Title        string // "Postgres", "MySQL/MariaDB": for messages
	DSNEnv       string // variable holding a DSN to use instead of a container
	ImageEnv     string // variable holding the image to start
	DefaultImage string
	// Dialector opens the database at dsn through this module's package
	// for it (postgres.Open, mysql.Open).
	Dialector func(dsn string) gorm.Dialector

	// Env is the container's environment (NAME=value), from which the
	// image's entrypoint creates the database and its user (User,
	// Password, Database).
	Env []string
	// Port is the TCP port the server listens on inside the container; it
	// is published on a free port of 127.0.0.1.
	Port string
	// Connector returns a connector to the database at dsn, which tells
	// when the container's database is ready; it must not log the
	// connections refused until then.
	Connector func(dsn string) (driver.Connector, error)
	// ContainerDSN returns the DSN of the container's database at addr
	// (host:port).
	ContainerDSN func(addr string) string
	// Cmd is the container's command: the server and its flags.
	Cmd []string
	// Ready, when not nil, runs once the container's database answers,
	// with the container's address (host:port): grants the image's
	// entrypoint does not give.
	Ready func(ctx context.Context, addr string) error

	once sync.Once
	mu   sync.Mutex
	ctr  *container
	dsn  string
	err  error // the container could not be started
	skip string
}

// DSN returns the DSN of the server's database: the environment's, or that
// of a container started on first use and shared by every caller. Without
// either it skips t, or fails it when RequireEnv names the server; a
// container that cannot start fails t, with the end of the container's log.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	if dsn := strings.TrimSpace(os.Getenv(s.DSNEnv)); dsn != "" {
		return dsn
	}
	s.once.Do(s.start)
	if s.skip != "" {
		if Required(s.Name) {
			t.Fatalf("%s is required (%s=%q) but unavailable: %s", s.Title, RequireEnv, os.Getenv(RequireEnv), s.skip)
		}
		t.Skipf("%s tests skipped: %s", s.Title, s.skip)
	}
	if s.err != nil {
		t.Fatalf("%v", s.err)
	}
	return s.dsn
}

// Image returns the image a container is started from.
func (s *Server) Image() string {
	if img := strings.TrimSpace(os.Getenv(s.ImageEnv)); img != "" {
		return img
	}
	return s.DefaultImage
}

func (s *Server) start() {
	if reason := dockerUnavailable(); reason != "" {
		s.skip = fmt.Sprintf("no %s and no Docker engine (%s). To run them, set %s to a DSN, "+
			"or start Docker (the image is %s, set by %s)",
			s.DSNEnv, reason, s.DSNEnv, s.Image(), s.ImageEnv)
		return
	}
	image := s.Image()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if reason := imageUnavailable(ctx, image); reason != "" {
		s.skip = fmt.Sprintf("no %s, and Docker cannot provide the image (%s). To run them, set %s to a DSN, "+
			"or %s to an image Docker has or can pull",
			s.DSNEnv, reason, s.DSNEnv, s.ImageEnv)
		return
	}
	ctr, dsn, err := s.run(ctx, image)
	if err != nil {
		tail := ""
		if ctr != nil {
			tail = ctr.logTail(40)
			rmCtx, rmCancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = ctr.remove(rmCtx)
			rmCancel()
		}
		s.err = fmt.Errorf("%s: start a container from %s (%s): %w%s\n"+
			"(set %s to use another image, or %s to use a running server)",
			s.Name, image, s.ImageEnv, err, tail, s.ImageEnv, s.DSNEnv)
		return
	}
	s.mu.Lock()
	s.ctr, s.dsn = ctr, dsn
	s.mu.Unlock()
}

// Terminate stops and removes the container DSN started, if any.
func (s *Server) Terminate() error {
	s.mu.Lock()
	ctr := s.ctr
	s.ctr = nil
	s.mu.Unlock()
	if ctr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ctr.remove(ctx); err != nil {
		return fmt.Errorf("%s: remove container %s: %w", s.Name, ctr.name, err)
	}
	return nil
}

// Main runs the tests of m, terminates the container and exits with m's
// code, or 1 when m passed but the container could not be removed.
func (s *Server) Main(m *testing.M) {
	code := m.Run()
	if err := s.Terminate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Required reports whether RequireEnv names db.
func Required(db string) bool {
	for _, name := range strings.Split(os.Getenv(RequireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(name), db) {
			return true
		}
	}
	return false
}

// Open opens a backend for appID on the server's database and closes it
// when t ends. It skips or fails t as DSN does.
func (s *Server) Open(t testing.TB, appID string, opts ...statebackend.Option) *statebackend.Store {
	t.Helper()
	dsn := s.DSN(t)
	opts = append([]statebackend.Option{statebackend.WithAppID(appID)}, opts...)
	b, err := statebackend.Open(s.Dialector(dsn), opts...)
	if err != nil {
		t.Fatalf("%s: open app %q: %v", s.Name, appID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Harness returns a conformance harness whose backends share the server's
// database. It provisions the database at once, so a missing one skips (or
// fails) t itself rather than every test of the suite.
func (s *Server) Harness(t testing.TB, opts ...statebackend.Option) conformance.Harness {
	t.Helper()
	s.DSN(t)
	return conformance.Harness{
		Open: func(tb testing.TB, appID string) state.Backend {
			return s.Open(tb, appID, opts...)
		},
	}
}
