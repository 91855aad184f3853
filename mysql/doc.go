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
//   - the backend's statements are prepared on the server once per
//     connection and reused, so the server does not parse them on every
//     call: at most MaxPreparedStatements per backend with the default
//     pool, which counts against the server's max_prepared_stmt_count
//     (16382 by default; see MaxPreparedStatements for sizing it, and
//     Dialector.WithoutPreparedStatements for running without);
//     everything else has its parameters interpolated by the driver;
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
// # Galera
//
// A MariaDB Galera cluster works as one database whose every node takes
// writes: open each process's backend on any node (mysql.Open(nodeDSN)).
// The nodes need, besides the settings above:
//
//	binlog_format=ROW
//	default_storage_engine=InnoDB
//	innodb_autoinc_lock_mode=2
//	wsrep_on=ON
//	wsrep_provider=/usr/lib/galera/libgalera_smm.so
//	wsrep_cluster_name=...
//	wsrep_cluster_address=gcomm://node1,node2,node3
//	wsrep_node_address=...
//	wsrep_sst_method=mariabackup (or rsync)
//
// and a primary key on every table, which the schema has (the history
// table's is its id column). Two transactions that change the same rows
// through different nodes conflict when they are certified; Galera fails
// the later one with error 1213, at its COMMIT or its next statement, and
// the backend retries it like any deadlock. A node applies the others'
// commits a moment after they return: a process reads its own writes on its
// node at once, and reads what others wrote through other nodes once their
// calls have returned when its DSN sets wsrep_sync_wait=1. History ids come
// from per-node auto-increment offsets: unique, not in insertion order
// across nodes.
//
// Give the backend's account the RELOAD privilege on Galera
// (GRANT RELOAD ON *.* TO ...). Under contention a MariaDB node now and
// then fails to load a table's triggers as it opens the table, and keeps
// that copy of the table in its table cache: every statement that gets it
// fails ("Trigger ... has an error in its body"), and waiting does not
// help. The backend retries such a call and, before each retry, flushes
// the app's tables on that node (FLUSH LOCAL TABLES, waiting at most 2
// seconds for the statements using them), for which it needs RELOAD.
// Without it, it logs once that it was refused, and the retries succeed
// only when they get another copy of the table. A Galera node also now
// and then reports a table a trigger writes as missing under contention
// (error 1146); on a Galera node (wsrep_on, read when Open connects) the
// backend retries that error like a deadlock.
//
// The Dialector implements dialect.Database, which is how Open learns
// these settings.
package mysql
