// Package sqlite opens the state backend on SQLite, the embedded default:
// one file, no server, several processes at once. For tests and single
// machines.
//
//	backend, err := statebackend.Open(sqlite.Open("state.db"), statebackend.WithAppID("myapp"))
//
// # Drivers: with or without a C compiler
//
// With cgo (the default where a C compiler is installed) the package uses
// github.com/mattn/go-sqlite3, SQLite's C sources compiled by the C
// compiler. Without cgo (CGO_ENABLED=0, or no C compiler) it uses
// modernc.org/sqlite, the same C sources translated to Go: no C toolchain,
// static binaries, cross-compilation with GOOS and GOARCH alone. The build
// tag statebackend_purego selects the pure-Go driver under cgo too.
//
// Both read and write the same file format with the same locks, settings
// and read-only modes, and the backend classifies their errors alike
// (lock contention retried, SQLITE_READONLY as state.ErrReadOnly):
// processes built either way share one database file. The pure-Go driver
// is slower on writes and on some reads (see BENCHMARKS.md), and does not
// report the system error behind an I/O error: a write that fails because
// the database's mount turned read-only under it is recognized by the
// mount's flags instead. One more difference concerns only files in
// rollback-journal mode, which this package does not write: while another
// database of the same process holds a write lock, the pure-Go driver
// does not see a hot journal (left by a writer that stopped in the middle
// of a transaction) and reads the file without rolling it back.
// DriverName names this build's database/sql driver, for programs that
// open the file with database/sql beside the backend.
//
// # Settings
//
// Open sets what a file shared by several processes needs:
//
//   - WAL journal with synchronous=NORMAL: a committed call survives the
//     crash of its process; after a power failure the last commits may be
//     lost but the file stays consistent;
//   - immediate write transactions (a writer waits for the lock at BEGIN
//     instead of failing later) and a short (20 ms) busy timeout, with
//     SQLITE_BUSY and SQLITE_LOCKED retried by the backend under the
//     caller's context: a call waits for another process's lock until its
//     deadline (a minute without one) and overshoots the deadline by at
//     most the busy timeout, and callers do not see "database is locked"
//     under contention;
//   - the database file memory-mapped (256 MiB);
//   - one writer per process: the backend group-commits writes that arrive
//     together (see dialect.Dialect.SingleWriter);
//   - a pool of 8 connections, or exactly one for ":memory:".
//
// # Read-only databases
//
// Open(path, ReadOnly()), or Open(path) with statebackend.WithReadOnly(),
// reads a database without writing it: to inspect a copy, a backup, a
// file another program writes or one this process may not write. No byte
// of the file changes and the journal mode stays as it is. A database in
// rollback-journal mode, or in WAL mode while some process has it open, is
// read with SQLite's mode=ro; a WAL database that no process has open (no
// -wal or -shm file) is read immutable where nothing can write it (a
// read-only mount, no write permission), so that no -wal or -shm file is
// created (see ReadOnly for the other cases). Immutable reads one on
// read-only media; ImmutableWhenClosed reads every closed WAL database
// immutable, for short reads that must leave no trace. Writes fail at
// once with statebackend.ErrReadOnly. Opening a file that cannot be
// written without these options fails at statebackend.Open with an error
// that names the file and wraps statebackend.ErrReadOnly; a directory
// given as the path fails with statebackend.ErrInvalidArgument.
//
// The Dialector implements dialect.Database and dialect.ReadOnlyDatabase,
// which is how Open learns these settings; statebackend.Open also accepts
// any other gorm.Dialector,
// with conservative defaults.
package sqlite
