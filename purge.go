package statebackend

import (
	"context"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/internal/op"
)

// Purge implements Backend.
func (s *Store) Purge(ctx context.Context) (err error) {
	c := s.begin(ctx, op.Purge)
	defer c.end(&err)
	var deleted map[string]int64
	err = c.write(func(db *gorm.DB) (err error) {
		deleted, err = s.repo.Purge(db)
		return err
	})
	if err == nil {
		c.tel.Pruned(deleted)
	}
	return err
}
