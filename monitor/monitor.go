package monitor

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/taskstate/statebackend/state"
)

// Options configure the monitor. The zero Options are usable.
type Options struct {
	// Title is shown in the header and the window title; default
	// "pynenc monitor".
	Title string
	// Database labels the database in the header, such as
	// "postgres://db.internal/pynenc". It is shown as given: pass a
	// redacted string, never a DSN holding a password. The monitor
	// never sees a DSN.
	Database string
	// AppID labels the app the backend serves, in the header.
	AppID string
	// Logger receives the backend errors that pages answer with a 500,
	// and the ends of live streams that failed; default slog.Default().
	Logger *slog.Logger
	// PollInterval is how often /events sends a "tick" (pages reload
	// their live region on each) when the backend is not a state.Watcher;
	// default 5s, at least 100ms. A Watcher pushes changes instead, at the
	// backend's own poll interval.
	PollInterval time.Duration
	// ScanLimit bounds the history records one page reads for the
	// throughput chart of the overview and for the timeline; default
	// 10,000. Pages say when they were cut.
	ScanLimit int
}

// Defaults and bounds of Options.
const (
	DefaultTitle        = "pynenc monitor"
	DefaultPollInterval = 5 * time.Second
	MinPollInterval     = 100 * time.Millisecond
	DefaultScanLimit    = 10_000
	// MaxScanLimit bounds ScanLimit, so that a page stays a page.
	MaxScanLimit = 1_000_000
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// server is the monitor's handler.
type server struct {
	b state.Backend
	// The optional interfaces b implements; nil when it does not.
	browser   state.Browser
	estimator state.CountEstimator
	bounded   state.BoundedCounter
	watcher   state.Watcher

	opts   Options
	log    *slog.Logger
	pages  map[string]*template.Template
	static map[string]asset
	mux    *http.ServeMux
	// now is the clock; tests keep time.Now.
	now func() time.Time
	// chart keeps the throughput chart's ended buckets for a while.
	chart chartCache
	// countCache keeps the overview's counts for a few seconds.
	countCache countCache
}

// New returns the monitor of b: a read-only web interface that serves
// GET requests only, with every asset embedded. It uses what b
// implements of state.Browser, state.CountEstimator and state.Watcher
// (found by type assertion) and says on its pages what b cannot do.
//
// The handler expects to see paths from "/": mount it under a prefix
// with http.StripPrefix (see the package documentation). Its links are
// relative, so they work under any prefix. New fails on invalid options.
func New(b state.Backend, opts Options) (http.Handler, error) {
	if b == nil {
		return nil, errors.New("monitor: nil backend")
	}
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	switch {
	case opts.PollInterval == 0:
		opts.PollInterval = DefaultPollInterval
	case opts.PollInterval < MinPollInterval:
		return nil, fmt.Errorf("monitor: PollInterval %v is shorter than %v", opts.PollInterval, MinPollInterval)
	}
	switch {
	case opts.ScanLimit == 0:
		opts.ScanLimit = DefaultScanLimit
	case opts.ScanLimit < 0 || opts.ScanLimit > MaxScanLimit:
		return nil, fmt.Errorf("monitor: ScanLimit %d is not in [1, %d]", opts.ScanLimit, MaxScanLimit)
	}
	s := &server{b: b, opts: opts, log: opts.Logger, now: time.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.browser, _ = b.(state.Browser)
	s.estimator, _ = b.(state.CountEstimator)
	s.bounded, _ = b.(state.BoundedCounter)
	s.watcher, _ = b.(state.Watcher)
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// routes registers every page. Every pattern is a GET (which serves HEAD
// too); ServeHTTP answers other methods with 405 before the mux.
func (s *server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /{$}", s.page(s.overview))
	s.mux.Handle("GET /invocations", s.page(s.invocations))
	s.mux.Handle("GET /invocations/{id}", s.page(s.invocation))
	s.mux.Handle("GET /workflows", s.page(s.workflowTypes))
	s.mux.Handle("GET /workflows/{type}", s.page(s.workflowType))
	s.mux.Handle("GET /workflow-runs/{id}", s.page(s.workflowRun))
	s.mux.Handle("GET /runners", s.page(s.runners))
	s.mux.Handle("GET /runners/{id}", s.page(s.runner))
	s.mux.Handle("GET /timeline", s.page(s.timeline))
	s.mux.Handle("GET /events", s.page(s.events))
	s.mux.Handle("GET /static/{name}", http.HandlerFunc(s.serveStatic))
	s.mux.Handle("GET /", s.page(func(w http.ResponseWriter, r *http.Request) error {
		return notFound("There is no page at this address.")
	}))
}

// securityHeaders are set on every response.
var securityHeaders = map[string]string{
	// Scripts and styles come from the embedded files only: no inline
	// script, no inline style, nothing from elsewhere.
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
}

func setSecurityHeaders(h http.Header) {
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
}

// ServeHTTP sets the security headers, refuses every method but GET and
// HEAD, and routes the request.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.renderError(w, r, &httpError{http.StatusMethodNotAllowed, "The monitor is read-only: it answers GET requests only."})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// httpError is an error a page answers with: its status and a message for
// the user.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// page adapts a page handler that returns an error: see renderError.
func (s *server) page(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// renderError answers err: its own status for an httpError, 400 with the
// backend's message for invalid input (a query parameter the backend
// refused, such as a cursor it did not make), 404 for a missing entity,
// nothing when the client went away, and 500 for anything else, logged
// and not shown (a backend's error may name hosts or tables).
func (s *server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, state.ErrInvalidArgument):
		he = &httpError{http.StatusBadRequest, "Bad request: " + err.Error()}
	case errors.Is(err, state.ErrNotFound):
		he = &httpError{http.StatusNotFound, "Not found: " + err.Error()}
	case r.Context().Err() != nil:
		return // the client went away; nobody reads the answer
	default:
		s.log.ErrorContext(r.Context(), "monitor: page failed", "path", r.URL.Path, "error", err)
		he = &httpError{http.StatusInternalServerError, "The backend failed to answer; the server's log has the details."}
	}
	data := errorData{Code: he.code, Status: http.StatusText(he.code), Message: he.msg}
	if err := s.render(w, r, he.code, "error", pageInfo{Title: data.Status}, data); err != nil {
		http.Error(w, he.msg, he.code)
	}
}

type errorData struct {
	Code    int
	Status  string
	Message string
}

// pageInfo is what the layout shows of a page besides its data.
type pageInfo struct {
	// Title is the page's heading.
	Title string
	// Nav names the navigation entry to highlight.
	Nav string
	// Events is the URL of the page's live updates, relative to the
	// page; empty for a page that does not update.
	Events string
	// Refresh, when not 0, reloads the page after that many seconds.
	Refresh int
}

// view is what every template receives.
type view struct {
	pageInfo
	AppTitle string
	Database string
	AppID    string
	L        links
	Data     any
}

// pageNames are the templates of the pages, each in templates/<name>.html
// defining "content" (and optionally "controls", shown above the live
// region and kept when it reloads).
var pageNames = []string{
	"overview", "invocations", "invocation", "workflows", "workflow_type",
	"workflow_run", "runners", "runner", "timeline", "error",
}

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"statusClass": statusClass,
	"count":       formatCount,
}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/shared.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("monitor: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes the page name with data, whole or, when the request says
// partial=1, its "content" only: what the live updates swap in.
func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name string, info pageInfo, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("monitor: no template %q", name)
	}
	v := view{pageInfo: info, AppTitle: s.opts.Title, Database: s.opts.Database, AppID: s.opts.AppID, L: linksFor(r), Data: data}
	block := "layout"
	if r.URL.Query().Get("partial") == "1" {
		block = "content"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
	return nil
}

// ok renders a page with status 200.
func (s *server) ok(w http.ResponseWriter, r *http.Request, name string, info pageInfo, data any) error {
	return s.render(w, r, http.StatusOK, name, info, data)
}

// asset is an embedded static file.
type asset struct {
	data        []byte
	contentType string
}

func loadStatic() (map[string]asset, error) {
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		ct, ok := types[path.Ext(d.Name())]
		if !ok {
			ct = "application/octet-stream"
		}
		out[d.Name()] = asset{data, ct}
		return nil
	})
	return out, err
}

func (s *server) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := s.static[r.PathValue("name")]
	if !ok {
		s.renderError(w, r, notFound("There is no such file."))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}
