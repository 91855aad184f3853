// Package postgres opens the state backend on Postgres, through pgx: the
// database for staging and production.
//
//	backend, err := statebackend.Open(postgres.Open("postgres://user:pass@db:5432/app"),
//		statebackend.WithAppID("myapp"))
//
// It needs no cgo: a program that imports this package and not
// statebackend/sqlite builds with CGO_ENABLED=0.
//
// # Settings
//
//   - Identifiers are varchar(n) COLLATE "C": they compare and sort byte for
//     byte, whatever the database's default collation. Payloads are bytea.
//   - pgx prepares and caches statements per connection itself. Behind
//     PgBouncer in transaction mode add default_query_exec_mode=simple_protocol
//     to the DSN.
//   - Serialization failures (40001), deadlocks (40P01) and lock timeouts
//     (55P03) are retried. Batches are written in ascending key order, so
//     concurrent writers do not deadlock in the first place.
//   - A pool of 16 connections, each reopened after an hour.
//   - Errors never hold the DSN's password, not even when the DSN does not
//     parse.
//   - Streaming replicas can serve range scans and listings
//     (statebackend.WithReadReplicas(postgres.Open(replicaDSN))): the
//     dialect reads the primary's WAL position (pg_current_wal_lsn) and each
//     replica's replay position (pg_last_wal_replay_lsn), which any user may
//     call, to bound their lag. A server not in recovery is no replica.
//
// The Dialector implements dialect.Database, which is how Open learns
// these settings.
package postgres
