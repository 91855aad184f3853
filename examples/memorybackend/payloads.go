package memorybackend

import (
	"context"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Results and exceptions are opaque bytes, stored byte for byte. Both
// directions copy: the caller may reuse its buffer after SetResult, and may
// modify what Result returned without changing the stored value.

// SetResult implements state.Backend.
func (b *Backend) SetResult(ctx context.Context, id state.InvocationID, data []byte) error {
	return b.setPayload(ctx, id, data, state.ChangeResult, func(a *app) map[state.InvocationID][]byte { return a.results })
}

// Result implements state.Backend.
func (b *Backend) Result(ctx context.Context, id state.InvocationID) ([]byte, error) {
	return b.payload(ctx, "result of invocation", id, func(a *app) map[state.InvocationID][]byte { return a.results })
}

// SetException implements state.Backend.
func (b *Backend) SetException(ctx context.Context, id state.InvocationID, data []byte) error {
	return b.setPayload(ctx, id, data, state.ChangeException, func(a *app) map[state.InvocationID][]byte { return a.exceptions })
}

// Exception implements state.Backend.
func (b *Backend) Exception(ctx context.Context, id state.InvocationID) ([]byte, error) {
	return b.payload(ctx, "exception of invocation", id, func(a *app) map[state.InvocationID][]byte { return a.exceptions })
}

// setPayload stores a copy of data under id in the table chosen by table,
// a change of kind: every store is one, the first or a replacement.
func (b *Backend) setPayload(ctx context.Context, id state.InvocationID, data []byte, kind state.ChangeKind, table func(*app) map[state.InvocationID][]byte) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := id.Validate("id"); err != nil {
		return err
	}
	data = copyBytes(data) // outside the lock: large payloads don't block readers
	b.write(func(a *app) {
		table(a)[id] = data
		a.changes.add(kind, id, "", time.Time{})
	})
	return nil
}

// payload returns a copy of the value under id in the table chosen by
// table, or ErrNotFound naming what.
func (b *Backend) payload(ctx context.Context, what string, id state.InvocationID, table func(*app) map[state.InvocationID][]byte) ([]byte, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var data []byte
	var ok bool
	b.read(func(a *app) { data, ok = table(a)[id] })
	if !ok {
		return nil, state.NotFound(what, string(id))
	}
	// Stored values are never modified, only replaced, so copying outside
	// the lock is safe.
	return copyBytes(data), nil
}

// copyBytes returns a copy of p that is never nil: an empty value reads
// back as an empty slice.
func copyBytes(p []byte) []byte {
	return append(make([]byte, 0, len(p)), p...)
}
