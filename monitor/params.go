package monitor

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskstate/statebackend/state"
)

// params reads a request's query parameters. Every reader returns an
// error for the page to answer with 400 and a message naming the
// parameter; an empty value is no value (what an empty form field
// sends).
type params struct {
	v url.Values
}

// maxValues bounds the values of a repeated parameter, as the state
// package bounds a filter's lists.
const maxValues = 100

func parseParams(r *http.Request) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params{}, badRequest("The query string is malformed: %v.", err)
	}
	return params{v}, nil
}

// one returns the single value of name, "" when absent.
func (p params) one(name string) (string, error) {
	var got string
	n := 0
	for _, s := range p.v[name] {
		if s == "" {
			continue
		}
		if n++; n > 1 {
			return "", badRequest("Parameter %q is given more than once; it takes one value.", name)
		}
		got = s
	}
	if !utf8.ValidString(got) {
		return "", badRequest("Parameter %q is not valid UTF-8.", name)
	}
	return got, nil
}

// all returns the non-empty values of name.
func (p params) all(name string) ([]string, error) {
	var out []string
	for _, s := range p.v[name] {
		if s == "" {
			continue
		}
		if !utf8.ValidString(s) {
			return nil, badRequest("Parameter %q is not valid UTF-8.", name)
		}
		out = append(out, s)
	}
	if len(out) > maxValues {
		return nil, badRequest("Parameter %q is given %d times; at most %d values are accepted.", name, len(out), maxValues)
	}
	return out, nil
}

// statuses reads name as statuses, repeated or comma-separated.
func (p params) statuses(name string) ([]state.Status, error) {
	vals, err := p.all(name)
	if err != nil {
		return nil, err
	}
	var out []state.Status
	for _, v := range vals {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			st := state.Status(s)
			if !st.Valid() {
				return nil, badRequest("Parameter %q: %q is not a status; the statuses are %s.", name, s, statusList())
			}
			out = append(out, st)
		}
	}
	if len(out) > maxValues {
		return nil, badRequest("Parameter %q holds more than %d statuses.", name, maxValues)
	}
	return out, nil
}

func statusList() string {
	var names []string
	for _, s := range state.Statuses() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// tasks reads name as task keys ("module.function"), repeated.
func (p params) tasks(name string) ([]state.TaskID, error) {
	vals, err := p.all(name)
	if err != nil {
		return nil, err
	}
	var out []state.TaskID
	for _, v := range vals {
		t, err := parseTask(name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// task reads name as one task key; the zero TaskID when absent.
func (p params) task(name string) (state.TaskID, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return state.TaskID{}, err
	}
	return parseTask(name, v)
}

func parseTask(name, key string) (state.TaskID, error) {
	t, err := state.ParseTaskID(key)
	if err != nil {
		return state.TaskID{}, badRequest("Parameter %q: %q is not a task key (module.function): %v.", name, key, err)
	}
	return t, nil
}

// id reads name as one invocation id; "" when absent.
func (p params) id(name string) (state.InvocationID, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return "", err
	}
	if err := state.InvocationID(v).Validate(name); err != nil {
		return "", badRequest("Parameter %q is not an invocation id: %v.", name, err)
	}
	return state.InvocationID(v), nil
}

// ids reads name as invocation ids, repeated.
func (p params) ids(name string) ([]state.InvocationID, error) {
	vals, err := p.all(name)
	if err != nil {
		return nil, err
	}
	var out []state.InvocationID
	for _, v := range vals {
		if err := state.InvocationID(v).Validate(name); err != nil {
			return nil, badRequest("Parameter %q is not an invocation id: %v.", name, err)
		}
		out = append(out, state.InvocationID(v))
	}
	return out, nil
}

// key reads name as an identifier such as a runner id (at most
// state.MaxIDLen bytes); "" when absent.
func (p params) key(name string) (string, error) {
	v, err := p.one(name)
	if err != nil {
		return "", err
	}
	if err := state.ValidateKey(name, v); err != nil {
		return "", badRequest("Parameter %q: %v.", name, err)
	}
	return v, nil
}

// timeLayouts are the absolute forms a time parameter takes besides RFC
// 3339; they carry no zone and are read as UTC (what an HTML date-time
// field sends).
var timeLayouts = []string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04", "2006-01-02 15:04:05.999999", "2006-01-02 15:04", "2006-01-02"}

// time reads name as a time: RFC 3339 ("2025-01-15T12:00:00Z"), a
// date-time in UTC ("2025-01-15T12:00"), or a duration ago ("90m",
// "2h"). The zero time when absent.
func (p params) time(name string, now time.Time) (time.Time, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, badRequest("Parameter %q: the duration %q is negative; a duration means that long ago.", name, v)
		}
		return checkTime(name, v, now.Add(-d))
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return checkTime(name, v, t.UTC())
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return checkTime(name, v, t)
		}
	}
	return time.Time{}, badRequest("Parameter %q: %q is not a time. Write RFC 3339 (2025-01-15T12:00:00Z), "+
		"a date-time in UTC (2025-01-15T12:00), or a duration ago (90m, 2h).", name, v)
}

func checkTime(name, v string, t time.Time) (time.Time, error) {
	if err := state.ValidateTimestamp(name, t); err != nil {
		return time.Time{}, badRequest("Parameter %q: %q is outside years 1-9999.", name, v)
	}
	return t, nil
}

// limit reads name as a page size in [1, max]; def when absent.
func (p params) limit(name string, def, max int) (int, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("Parameter %q: %q is not a number from 1 to %d.", name, v, max)
	}
	return n, nil
}

// listPage returns the page of a list the backend returns whole that the
// request asks for: its size ("limit") and the key it starts after
// ("after").
func (p params) listPage() (limit int, after string, err error) {
	if limit, err = p.limit("limit", defaultListSize, maxListSize); err != nil {
		return 0, "", err
	}
	after, err = p.one("after")
	return limit, after, err
}

// choice reads name as one of allowed; allowed[0] when absent.
func (p params) choice(name string, allowed ...string) (string, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return allowed[0], err
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", badRequest("Parameter %q: %q is not one of %s.", name, v, strings.Join(allowed, ", "))
}
