package monitor_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/taskstate/statebackend/monitor"
)

// TestBadRequests checks that bad parameters are answered 400 with a
// message that says what is wrong, never a 500.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	long := strings.Repeat("x", 300)
	for _, c := range []struct{ path, want string }{
		{"/invocations?status=bogus", `&#34;bogus&#34; is not a status`},
		{"/invocations?status=failed,bogus", `&#34;bogus&#34; is not a status`},
		{"/invocations?task=nodot", `&#34;nodot&#34; is not a task key`},
		{"/invocations?task=.f", "is not a task key"},
		{"/invocations?task=%FF.x", "is not valid UTF-8"},
		{"/invocations?since=yesterday", `&#34;yesterday&#34; is not a time`},
		{"/invocations?since=-1h", "is negative"},
		{"/invocations?before=10000-01-01", "is not a time"},
		{"/invocations?since=1h&before=2h", "is not before"},
		{"/invocations?limit=0", "is not a number from 1 to 500"},
		{"/invocations?limit=501", "is not a number from 1 to 500"},
		{"/invocations?limit=ten", "is not a number from 1 to 500"},
		{"/invocations?after=garbage", "Bad request"},
		{"/invocations?after=1.garbage", "Bad request"},
		{"/invocations?workflow=a&workflow=b", "is given more than once"},
		{"/invocations?parent=" + long, "is not an invocation id"},
		{"/invocations?runner=" + long, "longer than 255 bytes"},
		{"/invocations?workflow_type=x", "is not a task key"},
		{"/invocations?" + strings.Repeat("status=failed&", 101), "at most 100 values"},
		{"/invocations?a=%zz", "The query string is malformed"},
		{"/?by=nope", `&#34;nope&#34; is not one of status, task`},
		{"/?window=week", `&#34;week&#34; is not one of hour, day`},
		{"/timeline?since=200h", "is longer than 7d00h"},
		{"/timeline?since=1h&until=2h", "is not before"},
		{"/timeline?until=soon", "is not a time"},
		{"/workflows/nodot", "is not a workflow type"},
		{"/workflows?limit=-1", "is not a number"},
		{"/workflow-runs/wf-1?key=" + long, "longer than 255 bytes"},
		{"/runners?q=" + long, "longer than 255 bytes"},
		{"/runners?q=%FF", "is not valid UTF-8"},
		{"/runners/proc-b?after=garbage", "Bad request"},
		{"/invocations/" + long, "is not an invocation id"},
		{"/invocations/%FF", "is not an invocation id"},
		{"/events?status=bogus", "is not a status"},
		{"/events?invocation=" + long, "is not an invocation id"},
	} {
		r := get(t, h, c.path)
		if r.code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400; body:\n%s", c.path, r.code, r.body)
			continue
		}
		if !strings.Contains(r.body, c.want) {
			t.Errorf("GET %s: the 400 page does not say %q:\n%s", c.path, c.want, r.body)
		}
		if !strings.Contains(r.body, "<h1>Bad Request</h1>") {
			t.Errorf("GET %s: the 400 is not the monitor's page:\n%s", c.path, r.body)
		}
	}
}

// hostilePages show every hostile value the test data stores (taskEvil, evilID, runnerEvil and the payloads seed writes).
var hostilePages = []string{
	"/", "/?by=task", "/invocations", "/invocations?task=" + url.QueryEscape(taskEvil.Key()),
	invPath(evilID), "/workflows", "/workflows/" + url.PathEscape(taskEvil.Key()),
	"/runners", "/runners/" + url.PathEscape(runnerEvil), "/timeline", "/workflow-runs/wf-1?key=evil",
	"/invocations?status=%3Cscript%3Ealert(1)%3C/script%3E",                 // a 400 echoing it
	"/invocations/%3Cscript%3Ealert(%22nope%22)%3C%2Fscript%3E",             // a 404 echoing it
	"/workflows/%3Cscript%3Ealert(1)%3C%2Fscript%3E.f",                      // a type with no run, echoed
	"/invocations?runner=" + url.QueryEscape(`"><script>alert(1)</script>`), // echoed in a form field
}

// jsHref is an attribute holding a javascript: URL, or one that a
// browser would read as a scheme (no "./" before a colon).
var jsHref = regexp.MustCompile(`(?i)(href|src|action)="\s*(javascript|data|vbscript):`)

// TestHostileValuesAreEscaped seeds task names, ids, arguments, results
// and exceptions holding markup, quotes, javascript: URLs and invalid
// UTF-8, and checks that no page carries them raw.
func TestHostileValuesAreEscaped(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{Title: `<script>alert("title")</script>`, AppID: `"><u>x`, Database: "<i>db</i>"})
	for _, path := range hostilePages {
		r := get(t, h, path)
		if r.code >= 500 {
			t.Errorf("GET %s: %d", path, r.code)
		}
		if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<u>x") || strings.Contains(r.body, `'"<b>`) || strings.Contains(r.body, "<i>db") {
			t.Errorf("GET %s: a raw hostile value:\n%s", path, r.body)
		}
		if n := strings.Count(r.body, "<script"); n != 1 {
			t.Errorf("GET %s: %d script elements, want the one of live.js", path, n)
		}
		if jsHref.MatchString(r.body) {
			t.Errorf("GET %s: a javascript: link:\n%s", path, r.body)
		}
		if !utf8.ValidString(r.body) {
			t.Errorf("GET %s: the page is not valid UTF-8", path)
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert") {
			t.Errorf("GET %s: the escaped hostile value is not shown:\n%s", path, r.body)
		}
		// Nothing the Content-Security-Policy would block.
		for _, inline := range []string{" style=", "<style", " onclick=", " onload=", " onerror="} {
			if strings.Contains(r.body, inline) {
				t.Errorf("GET %s: inline %q", path, inline)
			}
		}
	}
	// The values themselves, escaped.
	mustGet(t, h, invPath(evilID),
		"<h3 class=\"arg\">&lt;script&gt;alert(&#34;argname&#34;)&lt;/script&gt;</h3>",
		"<pre class=\"value\">javascript:alert(&#39;arg&#39;)</pre>",
		"\uFFFD&lt;script&gt;alert(&#39;result&#39;)&lt;/script&gt;",
		"Traceback (most recent call last):\n  &lt;script&gt;alert(&#39;tb&#39;)&lt;/script&gt;\nValueError: &#34;quoted&#34;",
		`<a href="../runners/javascript:alert%28%27runner%27%29">javascript:alert(&#39;runner&#39;)</a>`,
		`<a href="../invocations?task=evil%3Cscript%3Ealert%28%22task%22%29%3C%2Fscript%3E.x%27%22%3Cb%3E">`,
		`data-events="../events?workflow=evil%2F%3Cscript%3Ealert%28%22id%22%29%3C%2Fscript%3E%3Fx%3D1%26y%3D2%23frag"`,
	)
	mustGet(t, h, "/invocations?runner="+url.QueryEscape(`"><script>alert(1)</script>`),
		`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`)
}

func checkSecurityHeaders(t *testing.T, what string, hd http.Header) {
	t.Helper()
	csp := hd.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: Content-Security-Policy %q allows something unsafe", what, csp)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := hd.Get(k); got != v {
			t.Errorf("%s: %s %q, want %q", what, k, got, v)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", 200}, {"GET", "/invocations?limit=3", 200}, {"GET", invPath(wf), 200}, {"GET", "/static/live.js", 200},
		{"GET", "/invocations?status=bogus", 400}, {"GET", "/invocations/nope", 404}, {"POST", "/", 405}, {"HEAD", "/events", 200},
	} {
		r := serve(t, h, c.method, c.path)
		if r.code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.code, c.code)
		}
		checkSecurityHeaders(t, c.method+" "+c.path, r.header)
	}
}

func TestProtect(t *testing.T) {
	t.Parallel()
	h := newMonitor(t, openMemory(t), monitor.Options{})
	type cred func(*http.Request)
	bearer := func(tok string) cred { return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) } }
	basic := func(u, p string) cred { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	none := func(*http.Request) {}
	check := func(what string, p http.Handler, c cred, want int) {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), "GET", "/", nil)
		c(req)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", what, rec.Code, want)
		}
		if rec.Code == http.StatusUnauthorized {
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Basic realm="monitor"`) {
				t.Errorf("%s: WWW-Authenticate %q", what, rec.Header().Values("WWW-Authenticate"))
			}
			checkSecurityHeaders(t, what, rec.Header())
		}
	}

	byToken := monitor.Protect(h, monitor.Auth{Token: "s3cret-token"})
	check("token: none", byToken, none, 401)
	check("token: wrong bearer", byToken, bearer("s3cret-tokem"), 401)
	check("token: prefix of it", byToken, bearer("s3cret"), 401)
	check("token: empty bearer", byToken, bearer(""), 401)
	check("token: right bearer", byToken, bearer("s3cret-token"), 200)
	check("token: lower-case scheme", byToken, func(r *http.Request) { r.Header.Set("Authorization", "bearer s3cret-token") }, 200)
	check("token: as a basic password", byToken, basic("anyone", "s3cret-token"), 200)
	check("token: wrong basic password", byToken, basic("anyone", "nope"), 401)
	check("token: basic with an empty password", byToken, basic("", ""), 401)

	byUser := monitor.Protect(h, monitor.Auth{Username: "ops", Password: "pa55"})
	check("user: none", byUser, none, 401)
	check("user: right", byUser, basic("ops", "pa55"), 200)
	check("user: wrong user", byUser, basic("dev", "pa55"), 401)
	check("user: wrong password", byUser, basic("ops", "pa56"), 401)
	check("user: a bearer", byUser, bearer("pa55"), 401)
	check("user: an empty bearer", byUser, bearer(""), 401)

	both := monitor.Protect(h, monitor.Auth{Token: "t", Username: "ops", Password: "p"})
	check("both: bearer", both, bearer("t"), 200)
	check("both: user", both, basic("ops", "p"), 200)
	check("both: mixed up", both, basic("ops", "x"), 401)

	closed := monitor.Protect(h, monitor.Auth{})
	check("empty auth: none", closed, none, 401)
	check("empty auth: empty basic", closed, basic("", ""), 401)
	check("empty auth: empty bearer", closed, bearer(""), 401)
}
