package repository

import (
	"database/sql"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// StoreAppInfo stores row, replacing the info under its app id.
func (r Repo) StoreAppInfo(db *gorm.DB, row entities.AppInfo) error {
	stmt, err := r.statement(db, stmtKey{name: "app_info.store"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name("AppInfo")).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "app_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"app_info_json"}),
		}).Create(map[string]any{"app_id": arg(0), "app_info_json": arg(1)})
	})
	if err != nil {
		return err
	}
	_, err = stmt.exec(db, string(row.AppID), string(row.AppInfoJSON))
	return err
}

// AppInfo returns the info of appID; found is false when there is none.
func (r Repo) AppInfo(db *gorm.DB, appID string) (row entities.AppInfo, found bool, err error) {
	stmt, err := r.statement(db, stmtKey{name: "app_info.get"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Model(&entities.AppInfo{}).Select("app_id", "app_info_json").
			Where("app_id = ?", arg(0)).Find(&[]entities.AppInfo{})
	})
	if err != nil {
		return row, false, err
	}
	found, err = stmt.first(db, func(rows *sql.Rows) error {
		return rows.Scan((*string)(&row.AppID), (*string)(&row.AppInfoJSON))
	}, appID)
	return row, found, err
}

// DiscoverAppInfos returns the app-info rows of every app in the database:
// it lists the tables, keeps the safe names ending in the app-info suffix
// and reads each. (Maintenance: built per call, since the tables are other
// apps'.)
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
		if err := db.Table(t).Select("app_id", "app_info_json").Order("app_id").Find(&rows).Error; err != nil {
			if !db.Migrator().HasTable(t) {
				continue // dropped since it was listed
			}
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
