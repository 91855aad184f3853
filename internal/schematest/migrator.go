package schematest

import (
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/migrations"
)

// Migrator returns the migrator of appID's schema on a connection of its
// own to d, closed when t ends.
func Migrator(t testing.TB, d gorm.Dialector, appID string) *migrations.Migrator {
	t.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	m, err := migrations.NewMigrator(db, migrations.Config{AppID: appID})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
