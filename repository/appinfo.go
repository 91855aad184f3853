package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// StoreAppInfo stores row, replacing the info under its app id.
func (r Repo) StoreAppInfo(db *gorm.DB, row entities.AppInfo) error {
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "app_id"}}, UpdateAll: true,
	}).Create(&row).Error
}

// AppInfo returns the info of appID; found is false when there is none.
func (r Repo) AppInfo(db *gorm.DB, appID string) (row entities.AppInfo, found bool, err error) {
	res := db.Where("app_id = ?", appID).Limit(1).Find(&row)
	return row, res.RowsAffected > 0, res.Error
}

// DiscoverAppInfos returns the app-info rows of every app in the database:
// it lists the tables, keeps the safe names ending in the app-info suffix
// and reads each.
func (r Repo) DiscoverAppInfos(db *gorm.DB) ([]entities.AppInfo, error) {
	tables, err := db.Migrator().GetTables()
	if err != nil {
		return nil, err
	}
	var out []entities.AppInfo
	for _, t := range tables {
		if !entities.IsAppInfoTable(t) {
			continue
		}
		var rows []entities.AppInfo
		if err := db.Table(t).Order("app_id").Find(&rows).Error; err != nil {
			if !db.Migrator().HasTable(t) {
				continue // dropped since it was listed
			}
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
