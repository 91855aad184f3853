package state

import (
	"strings"
	"time"
)

// pythonLayout and pythonLayoutMicros are the two forms Python's
// datetime.isoformat() produces for an aware UTC datetime.
const (
	pythonLayout       = "2006-01-02T15:04:05-07:00"
	pythonLayoutMicros = "2006-01-02T15:04:05.000000-07:00"
)

// AppendTimestamp appends t in Python's isoformat form, in UTC, to the
// microsecond: "2025-01-15T12:10:00.123456+00:00", or without the fraction
// when it is zero, exactly as pynenc writes it.
func AppendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.AppendFormat(b, pythonLayout)
	}
	return t.AppendFormat(b, pythonLayoutMicros)
}

// FormatTimestamp returns t in Python's isoformat form (see AppendTimestamp).
func FormatTimestamp(t time.Time) string { return string(AppendTimestamp(nil, t)) }

// ParseTimestamp reads an ISO 8601 timestamp as pynenc writes it: "T" or a
// space between date and time, any number of fraction digits, and a zone of
// "Z", "+00:00" or any offset. A timestamp without a zone is UTC, as pynenc
// treats it. The result is in UTC, truncated to the microsecond, and must
// fall in years 1-9999 (as ValidateTimestamp requires).
func ParseTimestamp(s string) (time.Time, error) {
	v := s
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	layout := time.RFC3339Nano
	if !hasZone(v) {
		layout = "2006-01-02T15:04:05.999999999"
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		return time.Time{}, Invalid("timestamp "+quote(s), "not an ISO 8601 date-time")
	}
	t = t.UTC().Truncate(time.Microsecond)
	// An offset can carry a valid local time out of Python's range
	// ("9999-12-31T23:59:59-01:00"), which could not be written back.
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, Invalid("timestamp "+quote(s), "outside years 1-9999 in UTC")
	}
	return t, nil
}

// hasZone reports whether an ISO date-time string ends in a zone designator.
func hasZone(v string) bool {
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		return true
	}
	if len(v) < 6 {
		return false
	}
	z := v[len(v)-6:]
	return (z[0] == '+' || z[0] == '-') && z[3] == ':'
}

// ToMicros returns t as microseconds since the Unix epoch, the form backends
// store and order timestamps in.
func ToMicros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros is the inverse of ToMicros; the result is in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
