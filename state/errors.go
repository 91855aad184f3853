package state

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a Backend returns for one of these conditions
// wraps the sentinel, so callers test with errors.Is.
var (
	// ErrNotFound reports that the requested invocation, result, exception,
	// app info, runner context or workflow data entry does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument reports input the backend refuses (empty or oversized
	// ids, invalid UTF-8, unknown statuses, zero timestamps, bad ranges...).
	// Nothing is written when it is returned.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrClosed reports a call on a backend after Close.
	ErrClosed = errors.New("backend closed")
	// ErrReadOnly reports a write to a database that refuses writes: opened
	// read-only, on a read-only file system, or a server or session that
	// is read-only (a Postgres hot standby, MySQL's read_only).
	ErrReadOnly = errors.New("database is read-only")
)

// Invalid returns an error wrapping ErrInvalidArgument that names the field
// at fault, for example Invalid("invocations[2].ID", "longer than 255 bytes").
func Invalid(field, problem string) error {
	return fmt.Errorf("statebackend: %s: %s: %w", field, problem, ErrInvalidArgument)
}

// NotFound returns an error wrapping ErrNotFound that names what is missing,
// for example NotFound("result of invocation", "inv-1").
func NotFound(what, id string) error {
	return fmt.Errorf("statebackend: %s %q: %w", what, id, ErrNotFound)
}
