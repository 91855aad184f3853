// Package migrations holds the versioned schema of the state backend and
// runs it: every change to the app's tables since version 1 (the schema
// v0.1.0 created), as a list of migrations, each a list of steps written
// as Go over *gorm.DB, so that one definition serves SQLite, Postgres and
// MySQL; and the Migrator, which reads an app's schema version and applies
// the migrations it lacks (through gormigrate, under the database's lock,
// one transaction per migration where the database allows it), recording
// each in the app's migrations table. statebackend.Open uses a Migrator on
// the database it opens; operators and tools use one directly (the
// statebackend command's schema and migrate).
//
// # Writing a migration
//
// A migration is forward-only and never edited once released: a later fix
// is a new migration. Its models are frozen copies of the columns it
// touches, declared in its own file (not the entities package, which always
// describes the latest schema), so that changing an entity never changes
// what an old migration does.
//
// Each step must be detectable: Done reports whether the step's effect is
// already in the database, and the runner skips a step that is done. On
// MySQL and MariaDB every DDL statement commits on its own, so a process
// killed in the middle of a migration leaves the steps before it applied
// but the migration unrecorded; the next run finds those steps done and
// finishes the rest. Keep one DDL statement per step, and write data steps
// so that running them twice is harmless (UPDATE ... WHERE the new column
// is still unset).
package migrations

import (
	"context"
	"fmt"
	"log/slog"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/taskstate/statebackend/entities"
)

// Migration is one version of the schema: what changes from the previous
// version, and how.
type Migration struct {
	// Version is the schema version the migration produces, counting from
	// 1; a migration's version is its position in All.
	Version int
	// Name is a short snake_case name, part of the id recorded in the
	// migrations table.
	Name string
	// Description says what the migration changes and why, for operators.
	Description string
	// MinCompatible is the oldest schema version a library must know to
	// use a database at this version: a migration that only adds (an
	// index, a table older libraries never read) keeps the previous value;
	// one that changes what older libraries read or write raises it to its
	// own Version.
	MinCompatible int
	// Steps are applied in order; each is skipped when it is already done.
	Steps []Step
	// Backfill, when not nil, derives data for the new schema from the
	// existing rows, in transactions of its own: the steps are applied
	// (and committed) first, then Backfill runs, then the migration is
	// recorded. It must be harmless to repeat and resume where a stopped
	// run left off, and log its progress on log.
	Backfill func(ctx context.Context, db *gorm.DB, t entities.Tables, log *slog.Logger) error
}

// ID returns the id the migrations table records for m: the version in
// four digits, an underscore and the name ("0002_retention").
func (m Migration) ID() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// Step is one detectable change: at most one DDL statement, or a data
// change that is harmless to repeat.
type Step struct {
	// Name describes the step in logs ("create index history.status_time").
	Name string
	// Done reports whether the step's effect is already in the database.
	Done func(db *gorm.DB, t entities.Tables) (bool, error)
	// Apply makes the change.
	Apply func(db *gorm.DB, t entities.Tables) error
}

// All returns every migration, in version order. The slice is new on each
// call.
func All() []Migration {
	return []Migration{initial(), retention(), invocationStatus(), changes(), statementTriggers()}
}

// createTable is the step that creates table model (the entities name,
// "History") from the frozen model v, with the indexes v declares. When
// the table exists, verify (if not nil) checks that it is the table v
// describes; a table that differs fails the step rather than being used.
func createTable(model string, v any, verify func(db *gorm.DB, t entities.Tables) error) Step {
	return Step{
		Name: "create table " + model,
		Done: func(db *gorm.DB, t entities.Tables) (bool, error) {
			if !db.Migrator().HasTable(t.Name(model)) {
				return false, nil
			}
			if verify != nil {
				if err := verify(db, t); err != nil {
					return false, err
				}
			}
			return true, nil
		},
		Apply: func(db *gorm.DB, t entities.Tables) error {
			return db.Table(t.Name(model)).Migrator().CreateTable(v)
		},
	}
}

// createIndex is the step that creates the index named index (its name in
// the model's tags, "status_time") that the frozen model v declares on the
// table of model.
func createIndex(model string, v any, index string) Step {
	return Step{
		Name: "create index " + model + "." + index,
		Done: func(db *gorm.DB, t entities.Tables) (bool, error) {
			table := t.Name(model)
			return db.Table(table).Migrator().HasIndex(v, IndexName(db, table, index)), nil
		},
		Apply: func(db *gorm.DB, t entities.Tables) error {
			table := t.Name(model)
			return db.Table(table).Migrator().CreateIndex(v, IndexName(db, table, index))
		},
	}
}

// IndexName returns the database name of the index named index in a
// model's tags on table: "idx_<table>_<index>", shortened with a hash past
// the identifier limit of db's naming strategy, as GORM names it.
func IndexName(db *gorm.DB, table, index string) string {
	return db.NamingStrategy.IndexName(table, index)
}

// parse parses the frozen model v as the model of table.
func parse(db *gorm.DB, table string, v any) (*schema.Schema, error) {
	stmt := &gorm.Statement{DB: db}
	if err := stmt.ParseWithSpecialTableName(v, table); err != nil {
		return nil, err
	}
	return stmt.Schema, nil
}
