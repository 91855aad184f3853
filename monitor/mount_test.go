package monitor_test

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/taskstate/statebackend/monitor"
)

// link is a URL in an attribute of a page.
var link = regexp.MustCompile(`(?:href|src|data-events)="([^"]*)"`)

// TestMountedUnderAPrefix mounts the monitor at /monitor/ as the package
// documentation says, and crawls it from its root: every link of every
// page stays under the prefix and answers 200, hostile ids included.
func TestMountedUnderAPrefix(t *testing.T) {
	t.Parallel()
	s, _ := seededStore(t)
	h := newMonitor(t, s, monitor.Options{})
	mux := http.NewServeMux()
	mux.Handle("/monitor/", http.StripPrefix("/monitor", h))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request left the monitor's prefix: %s", r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	fetch := func(u string) (string, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
		return string(body), resp.Header.Get("Content-Type")
	}

	// /monitor redirects to /monitor/.
	if body, _ := fetch(srv.URL + "/monitor"); !strings.Contains(body, "<h1>Overview</h1>") {
		t.Errorf("GET /monitor did not lead to the overview")
	}

	const maxPages = 400
	seen := map[string]bool{}
	queue := []string{srv.URL + "/monitor/"}
	var reached []string
	for len(queue) > 0 && len(seen) < maxPages {
		u := queue[0]
		queue = queue[1:]
		if seen[u] {
			continue
		}
		seen[u] = true
		body, ct := fetch(u)
		if !strings.HasPrefix(ct, "text/html") {
			continue
		}
		page, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			ref, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				t.Errorf("%s: unparsable link %q: %v", u, m[1], err)
				continue
			}
			abs := page.ResolveReference(ref)
			if abs.Host != base.Host || !strings.HasPrefix(abs.EscapedPath(), "/monitor/") {
				t.Errorf("%s: the link %q leads to %s, outside /monitor/", u, m[1], abs)
				continue
			}
			if strings.HasSuffix(abs.Path, "/events") {
				continue // a stream, tested on its own
			}
			abs.Fragment = ""
			reached = append(reached, abs.EscapedPath())
			queue = append(queue, abs.String())
		}
	}
	if len(seen) < 100 {
		t.Errorf("the crawl reached only %d pages", len(seen))
	}
	// Among them, the pages of the hostile and odd ids.
	for _, want := range []string{
		"/monitor/invocations/" + segmentOf(string(evilID)),
		"/monitor/invocations/%2E%2E",
		"/monitor/runners/" + segmentOf(runnerEvil),
		"/monitor/runners/proc-a%2Fworker-1%2Fthread-7",
		"/monitor/workflows/" + segmentOf(taskEvil.Key()),
		"/monitor/workflow-runs/sub-1",
		"/monitor/static/style.css",
	} {
		found := false
		for _, r := range reached {
			found = found || r == want
		}
		if !found {
			t.Errorf("no page links %s", want)
		}
	}
}

// segmentOf is the path segment the monitor's links use for s.
func segmentOf(s string) string { return url.PathEscape(s) }
