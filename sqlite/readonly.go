package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/state"
)

// This file holds how a database is read without changing anything: the
// read-only options, and the choice between SQLite's two read-only modes.
//
// SQLite reads a file read-only in one of two ways. mode=ro takes the
// usual locks, so it reads safely beside writers, but a database in WAL
// mode needs its -wal and -shm files for that: where they are missing
// (no process has the database open), SQLite creates them, and a reader
// cannot remove them when it closes. immutable=1 takes no locks, creates
// nothing and reads the database file alone, trusting that nothing changes
// it. A read-only open uses mode=ro, and immutable=1 where mode=ro would
// have to create files and nothing can write the database (see
// readOnlyMode).

// ReadOnly opens the database read-only: to inspect a copy or a backup,
// or a file another program owns. Reads work as usual; every write call
// fails at once with state.ErrReadOnly, and Open creates no schema,
// leaves the journal mode as the file has it and changes no byte of the
// file. statebackend.WithReadOnly implies it.
//
// The database is opened with SQLite's mode=ro, which sees other
// processes' commits as they happen. A database in rollback-journal mode
// is read as it is. A database in WAL mode (as this package writes them)
// is read through its -wal and -shm files when they exist, that is while
// a process has it open; when they are missing (no process has it open)
// mode=ro would have to create them beside it, so:
//
//   - a file that nothing can write (on a read-only mount, or with no write
//     permission for anyone) is opened immutable (see Immutable), and
//     reading it creates no file. A read-only bind mount (a container's
//     read-only volume) counts, though a process outside it may open the
//     file for writing: this reader then does not see its commits, and
//     its checkpoint may make a read fail, as Immutable says;
//   - a file this process may write, in a directory it may write, is read
//     with mode=ro, and SQLite creates the two files as it does for any
//     reader (owned as the database when the process runs as root); the
//     next process that closes the database read-write removes them;
//   - a file this process may not write, or in a directory it may not
//     write, fails with an error saying so: files created by this process
//     would stop the database's owner from writing it later, and the
//     directory may not take them. Use Immutable if nothing writes the
//     database while it is open, or ImmutableWhenClosed.
func ReadOnly() Option { return func(c *config) { c.readOnly = true } }

// Immutable opens the database read-only and promises SQLite that nobody
// changes the file while it is open (SQLite's immutable=1): for files on
// read-only media (a read-only mount, a snapshot, a CD image). SQLite
// then takes no locks and creates no -shm or -wal file. It reads the
// database file alone: commits still in a -wal file beside it (a writer
// that did not close cleanly) are not seen, so checkpoint before taking
// the copy (the backend checkpoints when its last connection closes).
// Opening a file that another process changes with Immutable may return
// wrong results or report corruption. Implies ReadOnly.
func Immutable() Option { return func(c *config) { c.readOnly, c.immutable = true, true } }

// ImmutableWhenClosed opens the database read-only, as ReadOnly, and
// immutable, as Immutable, whenever no process has it open: it is in WAL
// mode and neither its -wal nor its -shm file exists (SQLite removes both
// when the last connection closes, and keeps them while one is open).
// Reading then creates no file beside the database, whoever owns it. A
// database some process has open, or one in rollback-journal mode, is
// read with mode=ro, beside its writers.
//
// It is meant for short reads that must leave no trace, such as the
// statebackend command's read commands. A process that opens the database
// for writing during such a read is not seen by it: its commits are not
// read, and the checkpoint that copies them into the database file may
// make the read fail or see a mix of old and new pages. Implies ReadOnly.
func ImmutableWhenClosed() Option {
	return func(c *config) { c.readOnly, c.immutableWhenClosed = true, true }
}

// ReadOnly implements dialect.ReadOnlyDatabase: it returns the
// database opened as with the ReadOnly option, with its other options
// kept. An in-memory database is returned as it is: no other connection
// sees it, and the backend refuses writes anyway.
func (d *Dialector) ReadOnly() dialect.Database {
	if d.memory || d.cfg.readOnly {
		return d
	}
	cfg := d.cfg
	cfg.readOnly = true
	return open(d.path, cfg)
}

// readOnlyMode says how to open the existing file of a read-only
// dialector: immutable, or with mode=ro; or why it cannot be read without
// changing the files beside it.
func (d *Dialector) readOnlyMode() (immutable bool, err error) {
	info, err := os.Stat(d.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("%s does not exist (a read-only database is never created): %w", d.path, err)
		}
		return false, nil // SQLite's error, explained, says more
	}
	if !isWAL(d.path) || !closed(d.path) {
		return false, nil
	}
	if d.cfg.immutableWhenClosed || nobodyWrites(d.path, info) {
		return true, nil
	}
	const hint = "open it with sqlite.Immutable() if nothing writes it while it is open"
	if err := mayWrite(d.path); err != nil {
		return false, fmt.Errorf("%s is a WAL database that no process has open, and this process cannot write it (%w): "+
			"a read-only open would create its -wal and -shm files, which would stop its owner from writing it; %s",
			d.path, err, hint)
	}
	dir := filepath.Dir(d.path)
	if err := writable(dir); err != nil {
		return false, fmt.Errorf("%s is a WAL database that no process has open, and its -wal and -shm files, "+
			"which a read-only open needs, cannot be created in directory %s (%w); %s", d.path, dir, err, hint)
	}
	return false, nil
}

// closed reports whether no connection has the WAL database at path open:
// neither its -wal nor its -shm file exists. A connection keeps both while
// open; the last one to close removes them; a process that stopped
// without closing leaves them, with commits maybe still in the -wal file
// only.
func closed(path string) bool {
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// nobodyWrites reports whether no process can write the file at path
// (info is its stat): it is on a read-only mount, or nobody has
// permission to write it.
func nobodyWrites(path string, info fs.FileInfo) bool {
	return info.Mode().Perm()&0o222 == 0 || onReadOnlyMount(path)
}

// checkNotDirectory fails when path names a directory: SQLite would report
// that it cannot open a database file, or that the database is read-only.
func checkNotDirectory(path string) error {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory, not an SQLite database file: %w", path, state.ErrInvalidArgument)
	}
	return nil
}
