package memorybackend

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/taskstate/statebackend/state"
)

// Store is the shared "database": the data of every app, in memory. Open
// returns a Backend for one app of it. A Store is safe for concurrent use;
// its zero value is not, use NewStore.
type Store struct {
	// mu guards apps and everything an app holds. One lock for the whole
	// store keeps every operation atomic (a batch is written whole or not at
	// all) and lets DiscoverAppInfos read all apps consistently.
	mu   sync.RWMutex
	apps map[string]*app
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{apps: make(map[string]*app)}
}

// Open returns a backend for appID over s. Backends opened with the same app
// id share their data; backends with different app ids see none of each
// other's (except through DiscoverAppInfos, which lists every app's infos).
// The empty app id is the default app, like any other. Close the backend
// when done; closing it does not delete its data, Purge does.
func (s *Store) Open(appID string) *Backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appID]
	if !ok {
		a = newApp()
		s.apps[appID] = a
	}
	return &Backend{store: s, app: a, done: make(chan struct{})}
}

// Backend is the state.Backend of one app of a Store. It is safe for
// concurrent use.
type Backend struct {
	store  *Store
	app    *app // shared with every Backend of the same app id
	closed atomic.Bool
	done   chan struct{} // closed by Close: wakes the watches waiting on this backend
}

var _ state.Backend = (*Backend)(nil)

// check is the first thing every method does: a closed backend and a done
// context fail before any work.
func (b *Backend) check(ctx context.Context) error {
	if b.closed.Load() {
		return fmt.Errorf("memorybackend: %w", state.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memorybackend: %w", err)
	}
	return nil
}

// read runs fn under the store's read lock. fn must not keep or return
// references into the app's data: it copies what it hands out.
func (b *Backend) read(fn func(a *app)) {
	b.store.mu.RLock()
	defer b.store.mu.RUnlock()
	fn(b.app)
}

// write runs fn under the store's write lock. Callers validate their input
// before calling it, so fn cannot fail half way.
func (b *Backend) write(fn func(a *app)) {
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	fn(b.app)
}

// Close implements state.Backend. Later calls fail with ErrClosed; closing
// twice is not an error. The app's data stays in the Store.
func (b *Backend) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		close(b.done)
	}
	return nil
}
