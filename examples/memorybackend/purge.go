package memorybackend

import (
	"context"
)

// Purge implements state.Backend: it empties this app's data (app info,
// runner contexts and workflow data included). Other apps of the Store, and
// the Backends open on this app, stay usable.
func (b *Backend) Purge(ctx context.Context) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	b.write(func(a *app) { a.reset() })
	return nil
}
