package schematest

import (
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/migrations"
)

// Migrator returns the migrator of appID's schema on a connection of its
// own to d, closed when t ends.
func Migrator(t testing.TB, d gorm.Dialector, appID string) *migrations.Migrator {
	t.Helper()
	return open(t, d, migrations.Config{AppID: appID})
}

// ReadOnlyMigrator is Migrator on d opened read-only, as statebackend.Open
// opens it with WithReadOnly: through its driver's read-only mode where it
// has one (dialect.ReadOnlyDatabase).
func ReadOnlyMigrator(t testing.TB, d gorm.Dialector, appID string) *migrations.Migrator {
	t.Helper()
	if rd, ok := d.(dialect.ReadOnlyDatabase); ok {
		d = rd.ReadOnly()
	}
	return open(t, d, migrations.Config{AppID: appID, ReadOnly: true})
}

func open(t testing.TB, d gorm.Dialector, cfg migrations.Config) *migrations.Migrator {
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
	m, err := migrations.NewMigrator(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
