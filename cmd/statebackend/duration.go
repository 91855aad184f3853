package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationHelp says which units the duration flags take, for messages.
const durationHelp = "units: s, m (minutes), h, d (days), w (weeks), combined as 1h30m or 2w3d; " +
	"there is no month or year unit (give 30d, 365d)"

// dayUnits are the units parseDuration adds to Go's, in hours.
var dayUnits = map[string]time.Duration{"d": 24, "w": 7 * 24}

// goUnits are time.ParseDuration's units, and dayUnits.
var goUnits = map[string]bool{"ns": true, "us": true, "µs": true, "μs": true, "ms": true, "s": true, "m": true, "h": true, "d": true, "w": true}

// parseDuration reads the value of a duration flag: what time.ParseDuration
// reads ("90m", "1h30m"), plus days ("30d") and weeks ("2w"), in any
// combination ("1w2d12h"). A month or a year is refused by name: "m" is
// minutes, as in Go, and the length of a month or a year depends on which
// one. The value must be positive. Errors are usage errors naming flag.
func parseDuration(flag, s string) (time.Duration, error) {
	d, problem := durationValue(s)
	switch problem {
	case "":
		return d, nil
	case badDuration:
		return 0, usageErrorf("%s %q: give a positive duration such as 90m, 36h, 30d or 2w (%s)", flag, s, durationHelp)
	}
	return 0, usageErrorf("%s %q: %s", flag, s, problem)
}

// badDuration is durationValue's problem with a value that is no duration.
const badDuration = "not a duration"

// durationValue reads a duration as parseDuration does; problem says what
// is wrong, "" when nothing.
func durationValue(s string) (d time.Duration, problem string) {
	var total time.Duration
	rest := s
	for rest != "" {
		num := leadingNumber(rest)
		unit := rest[len(num):]
		if i := strings.IndexAny(unit, "0123456789."); i >= 0 {
			unit = unit[:i]
		}
		rest = rest[len(num)+len(unit):]
		var err error
		switch {
		case isMonthUnit(unit):
			return 0, "there is no month unit (m is minutes, as in 90m): give days, such as 30d"
		case isYearUnit(unit):
			return 0, "there is no year unit (years differ in length): give days, such as 365d"
		case num == "" || num == "." || unit == "":
			return 0, badDuration
		case dayUnits[unit] != 0:
			// Exact for fractions too: "1.5d" is 1.5h times 24.
			if d, err = time.ParseDuration(num + "h"); err == nil {
				if d > math.MaxInt64/dayUnits[unit] {
					return 0, "too long"
				}
				d *= dayUnits[unit]
			}
		default:
			d, err = time.ParseDuration(num + unit)
		}
		if err != nil {
			if _, perr := strconv.ParseFloat(num, 64); perr == nil && goUnits[unit] {
				return 0, "too long" // a number and a unit: time.ParseDuration's overflow
			}
			return 0, badDuration
		}
		if d > math.MaxInt64-total {
			return 0, "too long"
		}
		total += d
	}
	if total <= 0 {
		return 0, badDuration
	}
	return total, ""
}

// leadingNumber returns the decimal number s starts with ("12", "1.5"),
// or "".
func leadingNumber(s string) string {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i]
}

func isMonthUnit(u string) bool {
	switch strings.ToLower(u) {
	case "mo", "mon", "month", "months":
		return true
	}
	return u == "M"
}

func isYearUnit(u string) bool {
	switch strings.ToLower(u) {
	case "y", "yr", "yrs", "year", "years":
		return true
	}
	return false
}

// minutes writes a duration under an hour for messages: "1 minute",
// "30 minutes", or Go's form when it is not whole minutes ("90s" is
// "1m30s").
func minutes(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "1 minute"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
