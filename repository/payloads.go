package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// SetResult stores the result of id, replacing any earlier one.
func (r Repo) SetResult(db *gorm.DB, id string, data []byte) error {
	row := entities.Result{InvocationID: entities.Key(id), ResultData: entities.Blob(data)}
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "invocation_id"}}, UpdateAll: true,
	}).Create(&row).Error
}

// Result returns the result of id; found is false when there is none.
func (r Repo) Result(db *gorm.DB, id string) (data []byte, found bool, err error) {
	var row entities.Result
	res := db.Where("invocation_id = ?", id).Limit(1).Find(&row)
	return nonNil(row.ResultData), res.RowsAffected > 0, res.Error
}

// SetException stores the exception of id, replacing any earlier one.
func (r Repo) SetException(db *gorm.DB, id string, data []byte) error {
	row := entities.Exception{InvocationID: entities.Key(id), ExceptionData: entities.Blob(data)}
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "invocation_id"}}, UpdateAll: true,
	}).Create(&row).Error
}

// Exception returns the exception of id; found is false when there is none.
func (r Repo) Exception(db *gorm.DB, id string) (data []byte, found bool, err error) {
	var row entities.Exception
	res := db.Where("invocation_id = ?", id).Limit(1).Find(&row)
	return nonNil(row.ExceptionData), res.RowsAffected > 0, res.Error
}

// nonNil returns b, or an empty non-nil slice for nil, so a stored empty
// payload reads back as empty rather than nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
