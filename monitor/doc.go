// Package monitor is a read-only web monitor of a pynenc state backend:
// an http.Handler that shows what the backend holds, in the manner of
// pynenc's own monitor (pynmon). It depends on the state package only,
// so it serves any state.Backend: the Store of this module, the
// in-memory example, a backend of your own.
//
// # Pages
//
//	/                     overview: apps, invocations per status (by=task: per task
//	                      and status), recent failures, status changes per minute
//	                      over the last hour (window=day: per hour over the last day)
//	/invocations          invocations by current status, newest change first, a page
//	                      at a time; filters task, status (repeated), workflow,
//	                      workflow_type, parent, runner, since, before; limit, after
//	/invocations/{id}     status history with the time each status lasted, arguments,
//	                      result, exception, parents and children
//	/workflows            workflow types; /workflows/{type}: its runs
//	/workflow-runs/{id}   a run: its invocations, sub-invocations, data by key (key=)
//	/runners              runner contexts whose id contains q; /runners/{id}: one, its
//	                      parents, and the invocations whose current status it wrote
//	/timeline             invocations across runners over a window (since, until)
//	/events               Server-Sent Events: the live updates
//
// Every filter is a query parameter, so a view can be shared by its URL.
// A time parameter takes RFC 3339 (2025-01-15T12:00:00Z), a date-time in
// UTC (2025-01-15T12:00), or a duration ago (90m). Bad parameters are
// answered 400 with a message naming them; methods other than GET and
// HEAD, 405.
//
// # What the backend needs
//
// The contract (state.Backend) serves every page. Listing and counting
// invocations need a state.Browser; without one, those parts of the pages
// say the backend cannot list. With a state.CountEstimator the overview
// shows its counts, marked "estimated" when they are. With a
// state.BoundedCounter the family tree and workflow runs count their
// invocations up to 1,000 and say "more than 1,000" past it; without one,
// they count them all. With a state.Watcher the pages update as changes
// commit; without one, they reload every Options.PollInterval.
//
// Pages are bounded: listings go a page at a time (the Browser's cursor,
// or the id for lists the contract returns whole), trees and lists stop
// at a few dozen entries and say how many more there are, and the
// throughput chart and the timeline read at most Options.ScanLimit
// history records, saying so when they were cut. The overview's counts
// are read in the background, one read at a time, and reused while the
// backend's newest change stays the same (for a second where the backend
// is not a state.Watcher): open overviews reloading on every change do
// not each count a large database twice a second. A page waits for a
// read 50 milliseconds when it has older counts to show, which it then
// shows with their age, and reloads a moment later; it waits up to 2
// seconds for the first.
//
// # Mounting it
//
// The handler serves paths from "/" and makes every link relative to the
// page, so it works under any prefix:
//
//	h, err := monitor.New(store, monitor.Options{
//		AppID:    "orders",
//		Database: "postgres on db.internal", // a label: never the DSN
//	})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("/monitor/", http.StripPrefix("/monitor", h))
//
// Live updates are long-lived requests: a server with a WriteTimeout
// keeps serving them (the stream lifts its own write deadline), and
// http.Server.Shutdown waits for them unless the server's BaseContext is
// cancelled or Close is called.
//
// # Security
//
// The monitor writes nothing. Every value is escaped by html/template,
// links are built with url.PathEscape and url.QueryEscape and always
// start with "./" or "../", invalid UTF-8 is shown as U+FFFD, and every
// response carries a strict Content-Security-Policy (scripts and styles
// from the embedded files only: no inline script or style), nosniff,
// no-referrer and X-Frame-Options DENY. It does not authenticate: wrap
// it with Protect (a bearer token, or basic authentication) before
// serving it beyond loopback, and serve it over TLS where the network is
// not trusted. It shows the Options.Database label as given: pass a
// redacted one.
//
//	mux.Handle("/monitor/", http.StripPrefix("/monitor",
//		monitor.Protect(h, monitor.Auth{Token: os.Getenv("MONITOR_TOKEN")})))
//
// A browser sends the token as the password of the basic authentication
// it asks for; scripts send "Authorization: Bearer <token>".
//
// # Live updates
//
// A page that changes (the overview, the invocation list, an invocation,
// a workflow run) carries the URL of its events. The embedded script
// listens to them and, on each, fetches the same page with partial=1 and
// swaps its main region in; filters and forms outside it stay as they
// are. A stream sends at most two events a second, and ends, with its
// watch, when the client goes away.
package monitor
