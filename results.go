package statebackend

import (
	"context"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/state"
)

// SetResult implements Backend.
func (b *gormBackend) SetResult(ctx context.Context, id InvocationID, data []byte) error {
	if err := id.Validate("id"); err != nil {
		return err
	}
	return b.write(ctx, "SetResult", func(db *gorm.DB) error {
		return b.repo.SetResult(db, string(id), data)
	})
}

// Result implements Backend.
func (b *gormBackend) Result(ctx context.Context, id InvocationID) ([]byte, error) {
	return b.payload(ctx, "Result", "result of invocation", id, b.repo.Result)
}

// SetException implements Backend.
func (b *gormBackend) SetException(ctx context.Context, id InvocationID, data []byte) error {
	if err := id.Validate("id"); err != nil {
		return err
	}
	return b.write(ctx, "SetException", func(db *gorm.DB) error {
		return b.repo.SetException(db, string(id), data)
	})
}

// Exception implements Backend.
func (b *gormBackend) Exception(ctx context.Context, id InvocationID) ([]byte, error) {
	return b.payload(ctx, "Exception", "exception of invocation", id, b.repo.Exception)
}

// payload reads a result or an exception.
func (b *gormBackend) payload(ctx context.Context, op, what string, id InvocationID,
	get func(*gorm.DB, string) ([]byte, bool, error)) ([]byte, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var data []byte
	var found bool
	err := b.read(ctx, op, func(db *gorm.DB) (err error) {
		data, found, err = get(db, string(id))
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, state.NotFound(what, string(id))
	}
	return data, nil
}
