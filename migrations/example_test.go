package migrations_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/sqlite"
)

// Migrate a database as a deployment step, before starting processes that
// open it with WithoutAutoMigrate.
func ExampleMigrator() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := sqlite.Open(filepath.Join(dir, "state.db"))

	gdb, err := gorm.Open(db, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		log.Fatal(err)
	}
	defer sqlDB.Close()
	m, err := migrations.NewMigrator(gdb, migrations.Config{AppID: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := m.Migrate(ctx, migrations.Options{DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, mig := range plan.Applied {
		fmt.Printf("would apply %s\n", mig.ID())
	}
	if _, err := m.Migrate(ctx, migrations.Options{}); err != nil {
		log.Fatal(err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("version %d of %d, usable: %t\n", st.Version, st.Latest, st.Usable())

	backend, err := statebackend.Open(db, statebackend.WithAppID("orders"), statebackend.WithoutAutoMigrate())
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close()
	// Output:
	// would apply 0001_initial
	// would apply 0002_retention
	// would apply 0003_invocation_status
	// would apply 0004_changes
	// would apply 0005_statement_triggers
	// version 5 of 5, usable: true
}

// Open a backend whose range scans and listings may read from two streaming
// replicas of the primary, then see how far behind they are. (Not run: it
