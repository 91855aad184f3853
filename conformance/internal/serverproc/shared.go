package serverproc

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is the servers a test binary starts once, on first use, and
// stops at its end (see Get, Take and Main). The zero value is ready.
type Shared[T any] struct {
	once sync.Once
	mu   sync.Mutex
	val  T
	set  bool
	err  error
	skip string
}

// Get returns the shared servers, calling start the first time: start
// returns a reason when the servers cannot run here (then every caller is
// skipped, or failed when RequireEnv names db; see Unavailable), or the
// servers, or an error that fails every caller. pkg prefixes that error.
func (s *Shared[T]) Get(t testing.TB, pkg, db, title string, start func() (T, string, error)) T {
	t.Helper()
	s.once.Do(func() {
		v, skip, err := start()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.skip, s.err = skip, err
		if skip == "" && err == nil {
			s.val, s.set = v, true
		}
	})
	if s.skip != "" {
		Unavailable(t, db, title, s.skip)
	}
	if s.err != nil {
		t.Fatalf("%s: %v", pkg, s.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.val
}

// Take hands over the shared servers, if Get started them, for stopping:
// later calls report none.
func (s *Shared[T]) Take() (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.val, s.set
	var zero T
	s.val, s.set = zero, false
	return v, ok
}

// Main runs the tests of m, then terminate (which stops the shared
// servers), and exits; an error of terminate fails a passing run.
func Main(m *testing.M, pkg string, terminate func() error) {
	code := m.Run()
	if err := terminate(); err != nil {
		fmt.Fprintln(os.Stderr, pkg+":", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
