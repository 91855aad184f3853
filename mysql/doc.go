// Package mysql opens the state backend on MySQL 8 or MariaDB 10.2 and
// later, through github.com/go-sql-driver/mysql.
//
//	backend, err := statebackend.Open(mysql.Open("user:pass@tcp(db:3306)/app"),
//		statebackend.WithAppID("myapp"))
//
// It needs no cgo: a program that imports this package and not
// statebackend/sqlite builds with CGO_ENABLED=0.
//
// # Settings
//
//   - The connection is utf8mb4 with a binary collation, parseTime and UTC;
//     parameters are interpolated by the driver, so no server-side
//     statements count against max_prepared_stmt_count;
//   - identifiers are varbinary columns, so they compare byte for byte
//     whatever the server's default collation (MariaDB's binary collations
//     ignore trailing spaces; varbinary does not); text is utf8mb4;
//   - deadlocks (1213) and lock wait timeouts (1205) are retried;
//   - COMMIT and ROLLBACK honour the transaction's context (database/sql
//     gives them none): a server that stops answering cannot hold a call
//     past its deadline, and readTimeout and writeTimeout (IOTimeout unless
//     the DSN sets them) end the wait of calls without one;
//   - the driver's own messages go to the backend's logger
//     (statebackend.WithLogger) at level Warn, never to stderr;
//   - a pool of 16 connections, each reopened after an hour.
//
// Server settings: to store 64 MiB payloads set max_allowed_packet to at
// least 128 MiB and give InnoDB a redo log large enough for rows that size
// (innodb_log_file_size=256M).
//
// The Dialector implements statebackend.Database, which is how Open learns
// these settings.
package mysql
