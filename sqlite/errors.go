package sqlite

import (
	"syscall"

	"gorm.io/gorm"
)

// This file classifies SQLite's errors by their result codes, which both
// drivers report (see resultCode in driver_cgo.go and driver_purego.go):
// the backend retries, refuses or explains an error the same way whichever
// driver the program was built with.

// SQLite's result codes (https://www.sqlite.org/rescode.html): primary
// codes are the low 8 bits of an extended code.
const (
	codeBusy       = 5
	codeLocked     = 6
	codeReadOnly   = 8
	codeIOErr      = 10
	codeConstraint = 19
	codeNotADB     = 26

	codeReadOnlyRollback = codeReadOnly | 3<<8   // a hot journal a read-only connection cannot roll back
	codeConstraintFK     = codeConstraint | 3<<8 // FOREIGN KEY
	codeConstraintPK     = codeConstraint | 6<<8 // PRIMARY KEY
	codeConstraintUnique = codeConstraint | 8<<8 // UNIQUE

	primaryMask = 0xff
)

// code returns err's SQLite result code, extended where the driver reports
// it, and whether err is an SQLite error at all.
func code(err error) (int, bool) {
	c, _, ok := resultCode(err)
	return c, ok
}

// transient reports SQLITE_BUSY and SQLITE_LOCKED: another connection holds
// the lock longer than the busy timeout, or SQLite refused to wait.
func transient(err error) string {
	if c, ok := code(err); ok && (c&primaryMask == codeBusy || c&primaryMask == codeLocked) {
		return "busy"
	}
	return ""
}

// readOnlyErr reports SQLite's refusal to write: SQLITE_READONLY (the file
// was opened read-only), or an I/O error whose system cause is a read-only
// file system (a mount turned read-only under an open database). The
// pure-Go driver does not report the system error, so an I/O error on a
// database file that is on a read-only mount counts too.
func (d *Dialector) readOnlyErr(err error) bool {
	c, errno, ok := resultCode(err)
	switch {
	case !ok:
		return false
	case c&primaryMask == codeReadOnly || errno == syscall.EROFS:
		return true
	case c&primaryMask == codeIOErr && errno == 0 && d.path != "":
		return onReadOnlyMount(d.path)
	}
	return false
}

// constraintErrors are the constraint violations Translate names with
// GORM's errors, as gorm.io/driver/sqlite does for go-sqlite3's errors.
var constraintErrors = map[int]error{
	codeConstraintPK:     gorm.ErrDuplicatedKey,
	codeConstraintUnique: gorm.ErrDuplicatedKey,
	codeConstraintFK:     gorm.ErrForeignKeyViolated,
}

// Translate implements gorm.ErrorTranslator: a UNIQUE or PRIMARY KEY
// violation becomes gorm.ErrDuplicatedKey and a FOREIGN KEY violation
// gorm.ErrForeignKeyViolated, with either driver; other errors are
// returned as they are.
func (d *Dialector) Translate(err error) error {
	if c, ok := code(err); ok {
		if e, found := constraintErrors[c]; found {
			return e
		}
	}
	return err
}

// isCode reports whether err is the SQLite error with the extended code
// want (or, for a primary code, any of its extended codes).
func isCode(err error, want int) bool {
	c, ok := code(err)
	if !ok {
		return false
	}
	if want <= primaryMask {
		return c&primaryMask == want
	}
	return c == want
}
