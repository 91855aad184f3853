package main

import (
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/migrations"
)

// openMigrator opens the database of u and returns the migrator of the
// schema of appID on it, with the function that closes the database.
func (c *cli) openMigrator(u dbURL, appID string) (*migrations.Migrator, func(), error) {
	db, err := gorm.Open(u.dialector(), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, nil, err
	}
	closeDB := func() { _ = sqlDB.Close() }
	m, err := migrations.NewMigrator(db, migrations.Config{AppID: appID, Logger: c.log})
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	return m, closeDB, nil
}
