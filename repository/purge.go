package repository

import (
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Purge deletes every row of the app's tables in one transaction; the
// tables stay.
func (r Repo) Purge(db *gorm.DB) error {
	return db.Transaction(func(tx *gorm.DB) error {
		all := tx.Session(&gorm.Session{AllowGlobalUpdate: true})
		for _, m := range entities.All() {
			if err := all.Delete(m).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
