package migrations

import (
	"sync"

	"github.com/taskstate/statebackend/entities"
)

var (
	hooksMu sync.Mutex
	hooks   = map[string]func(last string){}
)

// SetBackfillBatch makes version 3's backfill take n invocations per
// batch, and call the function OnBackfillBatch registered for the app
// after each committed batch, until the returned function restores both.
func SetBackfillBatch(n int) (restore func()) {
	backfillBatch = n
	afterBackfillBatch = func(t entities.Tables, last string) {
		hooksMu.Lock()
		fn := hooks[t.Prefix()]
		hooksMu.Unlock()
		if fn != nil {
			fn(last)
		}
	}
	return func() { backfillBatch, afterBackfillBatch = BackfillBatch, nil }
}

// OnBackfillBatch registers fn to run after each committed backfill batch
// of the app whose tables have prefix.
func OnBackfillBatch(prefix string, fn func(last string)) {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooks[prefix] = fn
}
