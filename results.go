package statebackend

import (
	"context"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// SetResult implements Backend.
func (b *gormBackend) SetResult(ctx context.Context, id InvocationID, data []byte) (err error) {
	ctx, c := b.tel.start(ctx, opSetResult)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return err
	}
	row := entities.Result{InvocationID: entities.Key(id), ResultData: data}
	return b.write(ctx, "SetResult", func(db *gorm.DB) error {
		return b.repo.SetResult(db, row)
	})
}

// Result implements Backend.
func (b *gormBackend) Result(ctx context.Context, id InvocationID) (_ []byte, err error) {
	ctx, c := b.tel.start(ctx, opResult)
	defer c.end(&err)
	return b.payload(ctx, "Result", "result of invocation", id, func(db *gorm.DB, id string) ([]byte, bool, error) {
		row, found, err := b.repo.Result(db, id)
		return row.ResultData, found, err
	})
}

// SetException implements Backend.
func (b *gormBackend) SetException(ctx context.Context, id InvocationID, data []byte) (err error) {
	ctx, c := b.tel.start(ctx, opSetException)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return err
	}
	row := entities.Exception{InvocationID: entities.Key(id), ExceptionData: data}
	return b.write(ctx, "SetException", func(db *gorm.DB) error {
		return b.repo.SetException(db, row)
	})
}

// Exception implements Backend.
func (b *gormBackend) Exception(ctx context.Context, id InvocationID) (_ []byte, err error) {
	ctx, c := b.tel.start(ctx, opException)
	defer c.end(&err)
	return b.payload(ctx, "Exception", "exception of invocation", id, func(db *gorm.DB, id string) ([]byte, bool, error) {
		row, found, err := b.repo.Exception(db, id)
		return row.ExceptionData, found, err
	})
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
