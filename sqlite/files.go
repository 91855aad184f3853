package sqlite

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taskstate/statebackend/state"
)

// The errors of this file replace SQLite's "unable to open database file"
// (whose errno often names a -shm file the caller never heard of) with the
// reason in terms of the database file and what to do about it.

// checkWritable fails when the database file at path exists but cannot be
// opened for writing: SQLite would open it read-only without a word and
// fail at the first write.
func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		return f.Close()
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // SQLite creates it, or explains why it cannot
	}
	return readOnlyError(path, err)
}

// readOnlyError reports a database that exists but cannot be written
// because of cause.
func readOnlyError(path string, cause error) error {
	return fmt.Errorf("%s cannot be written (to read it, open it read-only: statebackend.WithReadOnly() or sqlite.ReadOnly()): %w: %w",
		path, state.ErrReadOnly, cause)
}

// explainOpen returns err, the error of opening the database or of its
// first read, with its reason when the files tell it.
func (d *Dialector) explainOpen(err error) error {
	if d.memory {
		return err
	}
	if isCode(err, codeNotADB) {
		return fmt.Errorf("%s is not an SQLite database: %w", d.path, err)
	}
	if isCode(err, codeReadOnlyRollback) {
		return fmt.Errorf("%s has a hot journal (%s-journal: a writer stopped in the middle of a transaction), "+
			"which a read-only open cannot roll back: open it once read-write, which rolls that transaction back: %w",
			d.path, filepath.Base(d.path), err)
	}
	dir := filepath.Dir(d.path)
	if _, statErr := os.Stat(d.path); errors.Is(statErr, fs.ErrNotExist) {
		if d.cfg.readOnly {
			return fmt.Errorf("%s does not exist (a read-only database is never created): %w", d.path, statErr)
		}
		if _, dirErr := os.Stat(dir); dirErr != nil {
			return fmt.Errorf("cannot create %s: %w", d.path, dirErr)
		}
		if accErr := writable(dir); accErr != nil {
			return fmt.Errorf("cannot create %s: directory %s: %w (%w)", d.path, dir, accErr, err)
		}
		return err
	}
	if d.cfg.immutable {
		return err
	}
	// The database exists. SQLite also needs its -shm file (WAL mode), and
	// creates it when missing, which takes a directory it may write to.
	accErr := writable(dir)
	if accErr == nil {
		return err
	}
	if !d.cfg.readOnly {
		return readOnlyError(d.path, fmt.Errorf("directory %s: %w (%w)", dir, accErr, err))
	}
	if _, shmErr := os.Stat(d.path + "-shm"); isWAL(d.path) && errors.Is(shmErr, fs.ErrNotExist) {
		// Its -wal file exists (readOnlyMode handles a closed database):
		// commits may be there only, which an immutable read would miss.
		return fmt.Errorf("%s is a WAL database whose %s-shm file is missing and cannot be created in %s (%w), "+
			"and whose -wal file may hold commits not yet in the database file: read a copy of both files in a "+
			"writable directory, or open it once read-write, which moves those commits into the file: %w",
			d.path, filepath.Base(d.path), dir, accErr, err)
	}
	return err
}

// isWAL reports whether the database file at path is in WAL mode: its
// header's read and write format versions are 2.
func isWAL(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var header [20]byte
	if _, err := io.ReadFull(f, header[:]); err != nil {
		return false
	}
	return header[18] == 2 && header[19] == 2
}
