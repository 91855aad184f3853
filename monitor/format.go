package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskstate/statebackend/state"
)

// timeLayout is how pages show a time, always in UTC.
const timeLayout = "2006-01-02 15:04:05.000"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// formatDuration shows d with the precision a person reads: 850ms,
// 12.3s, 4m05s, 2h03m, 3d04h.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + formatDuration(-d)
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// formatCount writes n with thousands separators.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// statusClass is the CSS class of a status. It names only valid statuses,
// whatever the backend returns.
func statusClass(s state.Status) string {
	if !s.Valid() {
		return "st-unknown"
	}
	return "st-" + string(s)
}

// text makes s safe to show: invalid UTF-8 becomes U+FFFD (html/template
// escapes the rest).
func text(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// taskText is a task's key as pages show it; "" for the zero task (an
// invocation with history only).
func taskText(t state.TaskID) string {
	if t.IsZero() {
		return ""
	}
	return text(t.Key())
}

func itoa(n int) string { return strconv.Itoa(n) }

// maxShown bounds the bytes of one value (an argument, a result, an
// exception) a page shows.
const maxShown = 64 << 10

// shown is a value as a page shows it.
type shown struct {
	Text string
	// Size is the value's size in bytes; Cut says Text holds only the
	// first maxShown bytes of it.
	Size     int
	SizeText string
	Cut      bool
	// JSON says the value was JSON, shown indented.
	JSON bool
}

// show prepares a stored value for display: JSON indented, invalid
// UTF-8 replaced, cut at maxShown bytes on a rune boundary.
func show(b []byte) shown { return showAs(b, true) }

// showText prepares a text for display as show does, never as JSON.
func showText(s string) shown { return showAs([]byte(s), false) }

func showAs(b []byte, tryJSON bool) shown {
	out := shown{Size: len(b), SizeText: formatCount(int64(len(b)))}
	if tryJSON && len(b) <= 1<<20 && json.Valid(b) {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			b, out.JSON = buf.Bytes(), true
		}
	}
	if len(b) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b, out.Cut = b[:cut], true
	}
	out.Text = text(string(b))
	return out
}

// field is one field of a structured value.
type field struct {
	Name  string
	Value shown
}

// exceptionFields splits a serialized exception that is a JSON object
// into its fields, string fields shown as their text (so a traceback
// keeps its lines) and others as JSON; nil for any other form.
func exceptionFields(b []byte) []field {
	if len(b) > 1<<20 {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil || len(obj) == 0 {
		return nil
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]field, 0, len(names))
	for _, k := range names {
		var s string
		v := show(obj[k])
		if json.Unmarshal(obj[k], &s) == nil {
			v = showText(s)
		}
		out = append(out, field{Name: text(k), Value: v})
	}
	return out
}
