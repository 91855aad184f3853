package state

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// The history documents a backend stores are the ones AppendJSON writes, so
// reading them back is on the hot path of every history read. decodeCanonical
// parses exactly that layout (fixed key order, no whitespace, strings without
// escapes, timestamps in one of the two forms AppendTimestamp writes) without
// reflection; anything else falls back to encoding/json.

// decodeCanonical decodes data into h and reports whether data had the
// canonical layout. On false, h is unchanged.
func decodeCanonical(data []byte, h *InvocationHistory) bool {
	p := canonParser{b: data}
	var out InvocationHistory
	var id, runnerID, rcID, regBy, status string
	ok := p.lit(`{"invocation_id":`) && p.str(&id) &&
		p.lit(`,"_timestamp":`) && p.ts(&out.Timestamp) &&
		p.lit(`,"status_record":{"status":`) && p.str(&status) &&
		p.lit(`,"runner_id":`) && p.nullableStr(&runnerID) &&
		p.lit(`,"timestamp":`) && p.ts(&out.StatusRecord.Timestamp) &&
		p.lit(`},"runner_context_id":`) && p.str(&rcID) &&
		p.lit(`,"registered_by_inv_id":`) && p.nullableStr(&regBy) &&
		p.lit(`}`) && p.end()
	if !ok || !Status(status).Valid() {
		return false
	}
	out.InvocationID = InvocationID(id)
	out.StatusRecord.Status = Status(status)
	out.StatusRecord.RunnerID = runnerID
	out.RunnerContextID = rcID
	out.RegisteredByInvID = InvocationID(regBy)
	*h = out
	return true
}

type canonParser struct {
	b []byte
	i int
}

func (p *canonParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *canonParser) end() bool { return p.i == len(p.b) }

// str reads a JSON string without escapes or control characters.
func (p *canonParser) str(out *string) bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	rest := p.b[p.i+1:]
	n := bytes.IndexByte(rest, '"')
	if n < 0 {
		return false
	}
	s := rest[:n]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	if !utf8.Valid(s) { // encoding/json would replace the bad bytes with U+FFFD
		return false
	}
	*out = string(s)
	p.i += n + 2
	return true
}

func (p *canonParser) nullableStr(out *string) bool {
	if p.lit("null") {
		*out = ""
		return true
	}
	return p.str(out)
}

// ts reads "2006-01-02T15:04:05+00:00" or "2006-01-02T15:04:05.000000+00:00".
func (p *canonParser) ts(out *time.Time) bool {
	b := p.b[p.i:]
	var n int
	switch {
	case len(b) >= 27 && b[20] == '+':
		n = 27
	case len(b) >= 34 && b[20] == '.' && b[27] == '+':
		n = 34
	default:
		return false
	}
	s := b[:n]
	if s[0] != '"' || s[n-1] != '"' || s[5] != '-' || s[8] != '-' || s[11] != 'T' ||
		s[14] != ':' || s[17] != ':' || string(s[n-7:n-1]) != "+00:00" {
		return false
	}
	year, ok1 := digits(s[1:5])
	month, ok2 := digits(s[6:8])
	day, ok3 := digits(s[9:11])
	hour, ok4 := digits(s[12:14])
	minute, ok5 := digits(s[15:17])
	sec, ok6 := digits(s[18:20])
	micros, ok7 := 0, true
	if n == 34 {
		micros, ok7 = digits(s[21:27])
	}
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || year < 1 || month < 1 || month > 12 || day < 1 ||
		day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micros*1000, time.UTC)
	if t.Day() != day { // 31 April and the like: let the strict parser refuse it
		return false
	}
	*out = t
	p.i += n
	return true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
