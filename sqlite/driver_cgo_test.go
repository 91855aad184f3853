//go:build cgo && !statebackend_purego

package sqlite

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestReadOnlyErrErrno checks the errors go-sqlite3 reports with their
// system cause: an I/O error caused by a read-only file system (a mount
// turned read-only under an open database) means the database refuses
// writes, one caused by a full disk does not. TestErrorClassification
// checks the rest on real errors.
func TestReadOnlyErrErrno(t *testing.T) {
	t.Parallel()
	d := Open(":memory:")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sqlite3.Error{Code: sqlite3.ErrReadonly}, true},
		{fmt.Errorf("wrapped: %w", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EROFS}), true},
		{sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.ENOSPC}, false},
		{sqlite3.Error{Code: sqlite3.ErrBusy}, false},
		{errors.New("other"), false},
	} {
		if got := d.readOnlyErr(c.err); got != c.want {
			t.Errorf("readOnlyErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
