package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidateKey checks a possibly empty identifier-like text field: at most
// MaxIDLen bytes, valid UTF-8, no NUL bytes (which Postgres text columns
// cannot hold). Emptiness is checked by the caller where it matters.
func ValidateKey(field, s string) error {
	if len(s) > MaxIDLen {
		return Invalid(field, fmt.Sprintf("longer than %d bytes (%d)", MaxIDLen, len(s)))
	}
	return ValidateText(field, s)
}

// ValidateText checks a text field of any length: valid UTF-8 without NUL
// bytes.
func ValidateText(field, s string) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalid(field, "contains a NUL byte")
	}
	return nil
}

// ValidateRequiredKey is ValidateKey that also refuses the empty string.
func ValidateRequiredKey(field, s string) error {
	if s == "" {
		return Invalid(field, "empty")
	}
	return ValidateKey(field, s)
}

// minTime and maxTime bound the timestamps a backend accepts: the years
// pynenc (Python's datetime) can represent.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ValidateTimestamp refuses the zero time and times outside years 1-9999.
func ValidateTimestamp(field string, t time.Time) error {
	if t.IsZero() {
		return Invalid(field, "zero time")
	}
	if t.Before(minTime) || t.After(maxTime) {
		return Invalid(field, "outside years 1-9999")
	}
	return nil
}

// ValidateTimeRange checks the arguments of the time-range iterators:
// start not after end, both within years 1-9999 (the zero time is allowed as
// an open start) and batchSize >= 1.
func ValidateTimeRange(start, end time.Time, batchSize int) error {
	if batchSize < 1 {
		return Invalid("batchSize", "must be at least 1, got "+strconv.Itoa(batchSize))
	}
	if start.After(end) {
		return Invalid("start", "after end")
	}
	if end.After(maxTime) {
		return Invalid("end", "after year 9999")
	}
	if !start.IsZero() && start.Before(minTime) {
		return Invalid("start", "before year 1")
	}
	return nil
}

// ValidateBatchIDs checks every id of a batch, naming the index at fault.
func ValidateBatchIDs(field string, ids []InvocationID) error {
	for i, id := range ids {
		if id.Validate(field) != nil { // name the index only on failure
			return id.Validate(field + "[" + strconv.Itoa(i) + "]")
		}
	}
	return nil
}

// quote formats s for an error message, shortened when long.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
