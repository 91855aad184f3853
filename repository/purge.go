package repository

import (
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Purge deletes every row of the app's tables in one transaction; the
// tables stay. It returns the rows deleted per table name, leaving out the
// tables that were already empty.
func (r Repo) Purge(db *gorm.DB) (map[string]int64, error) {
	deleted := map[string]int64{}
	err := db.Transaction(func(tx *gorm.DB) error {
		all := tx.Session(&gorm.Session{AllowGlobalUpdate: true})
		n, err := r.purgeChanges(tx)
		if err != nil {
			return err
		}
		if n > 0 {
			deleted[r.Tables.Name("Change")] = n
		}
		for _, m := range append(entities.All(), entities.Derived()...) {
			if _, ok := m.(*entities.Change); ok {
				continue // done above
			}
			res := all.Delete(m)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 {
				deleted[res.Statement.Table] = res.RowsAffected
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}
