// Package testdb holds what pgtest and mysqltest share: choosing between a
// DSN from the environment, a container started once per test binary, and a
// skip (or a failure, when the environment requires the database).
package testdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
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

// Server provisions one database for the tests of a test binary.
type Server struct {
	Name         string // "postgres" or "mysql": the name in RequireEnv
	Title        string // "Postgres", "MySQL/MariaDB": for messages
	DSNEnv       string // variable holding a DSN to use instead of a container
	ImageEnv     string // variable holding the image to start
	DefaultImage string

	// Start runs a container from image and returns it with the DSN of its
	// database. On error it may return the container, for its log and
	// removal.
	Start func(ctx context.Context, image string) (testcontainers.Container, string, error)

	once sync.Once
	mu   sync.Mutex
	ctr  testcontainers.Container
	dsn  string
	err  error // the container could not be started
	skip string
}

// DSN returns the DSN of the server's database: the environment's, or that
// of a container started on first use and shared by every caller. Without
// either it skips t, or fails it when RequireEnv names the server.
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
	if reason := DockerUnavailable(); reason != "" {
		s.skip = fmt.Sprintf("no %s and no Docker engine (%s). To run them, set %s to a DSN, "+
			"or start Docker (the image is %s, set by %s)",
			s.DSNEnv, reason, s.DSNEnv, s.Image(), s.ImageEnv)
		return
	}
	image := s.Image()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if reason := ImageUnavailable(ctx, image); reason != "" {
		s.skip = fmt.Sprintf("no %s, and Docker cannot provide the image (%s). To run them, set %s to a DSN, "+
			"or %s to an image Docker has or can pull",
			s.DSNEnv, reason, s.DSNEnv, s.ImageEnv)
		return
	}
	ctr, dsn, err := s.Start(ctx, image)
	if err != nil {
		tail := ""
		if ctr != nil {
			tail = LogTail(ctr, 40)
			rmCtx, rmCancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = ctr.Terminate(rmCtx)
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
	if err := ctr.Terminate(ctx); err != nil {
		return fmt.Errorf("%s: remove container %s: %w", s.Name, ctr.GetContainerID(), err)
	}
	return nil
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

// DockerUnavailable returns why no Docker engine answers, "" when one does.
// It never panics: testcontainers panics when it finds no Docker host.
func DockerUnavailable() (reason string) {
	defer func() {
		if r := recover(); r != nil {
			reason = fmt.Sprint(r)
		}
	}()
	p, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return err.Error()
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Health(ctx); err != nil {
		return err.Error()
	}
	return ""
}

// ImageUnavailable returns why Docker can neither find image locally nor
// pull it, "" when the image is there (pulled now if need be). A machine
// with Docker but without registry access then skips rather than fails.
func ImageUnavailable(ctx context.Context, image string) (reason string) {
	defer func() {
		if r := recover(); r != nil {
			reason = fmt.Sprint(r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err.Error()
	}
	defer p.Close()
	if _, err := p.Client().ImageInspect(ctx, image); err == nil {
		return ""
	}
	if err := p.PullImage(ctx, image); err != nil {
		return fmt.Sprintf("image %s is not present and cannot be pulled: %v", image, err)
	}
	return ""
}

// LogTail returns the last n lines of the container's log, formatted to
// follow an error message, or "" when there are none.
func LogTail(ctr testcontainers.Container, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return "\ncontainer log unavailable: " + err.Error()
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(rc, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = slices.Delete(lines, 0, len(lines)-n)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("\nlast %d lines of the container log:\n\t%s", len(lines), strings.Join(lines, "\n\t"))
}

// Main runs m, terminates the servers' containers and exits with m's code.
func Main(m *testing.M, servers ...*Server) {
	code := m.Run()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Terminate())
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Open opens a backend for appID on the server's database through dialect
// (postgres.Open or mysql.Open of this module) and closes it when t ends.
// It skips or fails t as DSN does.
func (s *Server) Open(t testing.TB, dialect func(dsn string) gorm.Dialector, appID string, opts ...statebackend.Option) *statebackend.Store {
	t.Helper()
	dsn := s.DSN(t)
	opts = append([]statebackend.Option{statebackend.WithAppID(appID)}, opts...)
	b, err := statebackend.Open(dialect(dsn), opts...)
	if err != nil {
		t.Fatalf("%s: open app %q: %v", s.Name, appID, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Harness returns a conformance harness whose backends share the server's
// database. It provisions the database at once, so a missing one skips (or
// fails) t itself rather than every test of the suite.
func (s *Server) Harness(t testing.TB, dialect func(dsn string) gorm.Dialector, opts ...statebackend.Option) conformance.Harness {
	t.Helper()
	s.DSN(t)
	return conformance.Harness{
		Open: func(tb testing.TB, appID string) state.Backend {
			return s.Open(tb, dialect, appID, opts...)
		},
	}
}
