package main

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
)

// The sizes status reports. Each database tells them its own way; the
// statements here are read-only and run on the CLI's inspection handle,
// never through the library. A size the database cannot tell is reported
// as unknown (ok false), never guessed.

// databaseSize returns the size of the whole database in bytes.
func databaseSize(ctx context.Context, db *gorm.DB, kind string) (size int64, ok bool) {
	var n sql.NullInt64
	var err error
	switch kind {
	case "sqlite":
		// The file's pages, free ones included: what the file occupies.
		err = db.WithContext(ctx).Raw("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&n).Error
	case "postgres":
		err = db.WithContext(ctx).Raw("SELECT pg_database_size(current_database())").Scan(&n).Error
	case "mysql":
		err = db.WithContext(ctx).Raw("SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n).Error
	}
	if err != nil || !n.Valid {
		return 0, false
	}
	return n.Int64, true
}

// tableSize returns the size of one table with its indexes, in bytes.
// SQLite tells it only when built with the dbstat table.
func tableSize(ctx context.Context, db *gorm.DB, kind, table string) (size int64, ok bool) {
	var n sql.NullInt64
	var err error
	switch kind {
	case "sqlite":
		err = db.WithContext(ctx).Raw(
			"SELECT SUM(pgsize) FROM dbstat WHERE name = ? OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
			table, table).Scan(&n).Error
	case "postgres":
		// Quoted: app prefixes keep their case.
		err = db.WithContext(ctx).Raw("SELECT pg_total_relation_size(CAST(? AS regclass))", `"`+table+`"`).Scan(&n).Error
	case "mysql":
		err = db.WithContext(ctx).Raw("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", table).Scan(&n).Error
	}
	if err != nil || !n.Valid {
		return 0, false
	}
	return n.Int64, true
}
