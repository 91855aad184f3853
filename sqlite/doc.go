// Package sqlite opens the state backend on SQLite, the embedded default:
// one file, no server, several processes at once. For tests and single
// machines.
//
//	backend, err := statebackend.Open(sqlite.Open("state.db"), statebackend.WithAppID("myapp"))
//
// This package needs cgo: it uses github.com/mattn/go-sqlite3, which
// compiles SQLite's C sources (set CGO_ENABLED=1 and have a C compiler).
// Programs that only use Postgres or MySQL do not import it and build with
// CGO_ENABLED=0.
//
// # Settings
//
// Open sets what a file shared by several processes needs:
//
//   - WAL journal with synchronous=NORMAL: a committed call survives the
//     crash of its process; after a power failure the last commits may be
//     lost but the file stays consistent;
//   - a busy timeout and immediate write transactions (a writer waits for the
//     lock at BEGIN instead of failing later), with SQLITE_BUSY and
//     SQLITE_LOCKED retried by the backend, so callers do not see "database
//     is locked" under contention;
//   - the database file memory-mapped (256 MiB);
//   - one writer per process: the backend group-commits writes that arrive
//     together (see statebackend.Dialect.SingleWriter);
//   - a pool of 8 connections, or exactly one for ":memory:".
//
// The Dialector implements statebackend.Database, which is how Open learns
// these settings; statebackend.Open also accepts any other gorm.Dialector,
// with conservative defaults.
package sqlite
