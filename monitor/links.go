package monitor

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/taskstate/statebackend/state"
)

// links builds the monitor's URLs relative to the page being served, so
// they work wherever the handler is mounted: base leads from the page
// back to the monitor's root ("./" on a top-level page such as
// /invocations, "../" on /invocations/{id}).
//
// Every value is escaped into its place (a path segment or a query
// value), and every link starts with "./" or "../", so a value such as
// "javascript:alert(1)" is always a path under the monitor, never a
// scheme.
type links struct {
	base string
}

// linksFor returns the links of the page r asks for: one "../" per path
// segment after the first, counted on the escaped path, where an id
// holding a "/" is one segment ("%2F").
func linksFor(r *http.Request) links {
	depth := strings.Count(r.URL.EscapedPath(), "/") - 1
	if depth <= 0 {
		return links{"./"}
	}
	return links{strings.Repeat("../", depth)}
}

// segment escapes s as one path segment. The mux cleans "." and ".."
// segments away before routing, so they are escaped too.
func segment(s string) string {
	e := url.PathEscape(s)
	if strings.Trim(e, ".") == "" {
		e = strings.Repeat("%2E", len(e))
	}
	return e
}

// to returns the link to path (already escaped) with query v.
func (l links) to(path string, v url.Values) string {
	u := l.base + path
	if q := v.Encode(); q != "" {
		u += "?" + q
	}
	return u
}

// Root, Invocations, Timeline, Workflows, Runners and Static are the
// links of the layout's navigation and assets.
func (l links) Root() string              { return l.base }
func (l links) Invocations() string       { return l.base + "invocations" }
func (l links) Timeline() string          { return l.base + "timeline" }
func (l links) Workflows() string         { return l.base + "workflows" }
func (l links) Runners() string           { return l.base + "runners" }
func (l links) Static(name string) string { return l.base + "static/" + segment(name) }

func (l links) invocationList(v url.Values) string { return l.to("invocations", v) }

func (l links) invocation(id state.InvocationID) string {
	if id == "" {
		return ""
	}
	return l.base + "invocations/" + segment(string(id))
}

func (l links) task(t state.TaskID) string {
	if t.IsZero() {
		return ""
	}
	return l.invocationList(url.Values{"task": {t.Key()}})
}

func (l links) workflowType(t state.TaskID) string {
	if t.IsZero() {
		return ""
	}
	return l.base + "workflows/" + segment(t.Key())
}

func (l links) workflowRun(id state.InvocationID) string {
	if id == "" {
		return ""
	}
	return l.base + "workflow-runs/" + segment(string(id))
}

func (l links) runner(id string) string {
	if id == "" {
		return ""
	}
	return l.base + "runners/" + segment(id)
}

func (l links) events(v url.Values) string { return l.to("events", v) }
