package statebackend

import (
	"context"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// SetResult implements Backend.
func (s *Store) SetResult(ctx context.Context, id InvocationID, data []byte) (err error) {
	c := s.begin(ctx, op.SetResult)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return err
	}
	row := entities.Result{InvocationID: entities.Key(id), ResultData: data}
	return c.write(func(db *gorm.DB) error {
		return s.repo.SetResult(db, row)
	})
}

// Result implements Backend.
func (s *Store) Result(ctx context.Context, id InvocationID) (_ []byte, err error) {
	c := s.begin(ctx, op.Result)
	defer c.end(&err)
	return s.payload(c, "result of invocation", id, func(db *gorm.DB, id string) ([]byte, bool, error) {
		row, found, err := s.repo.Result(db, id)
		return row.ResultData, found, err
	})
}

// SetException implements Backend.
func (s *Store) SetException(ctx context.Context, id InvocationID, data []byte) (err error) {
	c := s.begin(ctx, op.SetException)
	defer c.end(&err)
	if err := id.Validate("id"); err != nil {
		return err
	}
	row := entities.Exception{InvocationID: entities.Key(id), ExceptionData: data}
	return c.write(func(db *gorm.DB) error {
		return s.repo.SetException(db, row)
	})
}

// Exception implements Backend.
func (s *Store) Exception(ctx context.Context, id InvocationID) (_ []byte, err error) {
	c := s.begin(ctx, op.Exception)
	defer c.end(&err)
	return s.payload(c, "exception of invocation", id, func(db *gorm.DB, id string) ([]byte, bool, error) {
		row, found, err := s.repo.Exception(db, id)
		return row.ExceptionData, found, err
	})
}

// payload reads a result or an exception.
func (s *Store) payload(c call, what string, id InvocationID,
	get func(*gorm.DB, string) ([]byte, bool, error)) ([]byte, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	var data []byte
	var found bool
	err := c.read(func(db *gorm.DB) (err error) {
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
