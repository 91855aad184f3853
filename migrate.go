package statebackend

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// migrate creates the app's missing tables and indexes. It never alters an
// existing table, so starting a new version against an old database cannot
// rewrite data behind the operator's back. It runs in one transaction, which
// on SQLite (immediate transactions) and Postgres (transactional DDL) keeps
// processes opening one new database at once from racing to create the same
// table; where DDL commits on its own (MySQL) a losing attempt is retried and
// then finds the table there.
//
// A lock another process holds (SQLite) is waited for as a call without a
// deadline waits (see TransientBusy); other failures are retried 5 times.
func (b *gormBackend) migrate() error {
	db := b.db.Set(entities.ColumnTypesSetting, b.dialect.Columns.entities())
	// Most opens find the schema complete: checking without a transaction
	// takes no write lock, so Open does not wait for another process's
	// writes (SQLite) to find nothing to do.
	if complete, err := schemaComplete(db); err == nil && complete {
		return nil
	}
	p := newRetryPolicy()
	var err error
	for attempt := 1; attempt <= 5; {
		if err = db.Transaction(migrateOnce); err == nil {
			return nil
		}
		if reason := b.dialect.Transient(err); reason == TransientBusy {
			pause, ok := p.next(reason, false)
			if !ok {
				break
			}
			time.Sleep(pause)
			continue
		}
		b.log.Warn("schema creation failed, retrying", "operation", "Open", "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		attempt++
	}
	return fmt.Errorf("statebackend: create schema: %w", err)
}

// schemaComplete reports whether every table and index of the app exists.
func schemaComplete(db *gorm.DB) (bool, error) {
	m := db.Migrator()
	for _, model := range entities.All() {
		if !m.HasTable(model) {
			return false, nil
		}
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return false, err
		}
		for _, idx := range stmt.Schema.ParseIndexes() {
			if !m.HasIndex(model, idx.Name) {
				return false, nil
			}
		}
	}
	return true, nil
}

func migrateOnce(db *gorm.DB) error {
	m := db.Migrator()
	for _, model := range entities.All() {
		if !m.HasTable(model) {
			if err := m.CreateTable(model); err != nil {
				return err
			}
			continue
		}
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(model); err != nil {
			return err
		}
		for _, idx := range stmt.Schema.ParseIndexes() {
			if !m.HasIndex(model, idx.Name) {
				if err := m.CreateIndex(model, idx.Name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
