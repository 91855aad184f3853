// Package browsertest holds the test of the web monitor in a real
// browser: headless Chromium, driven with chromedp over the DevTools
// protocol, walks through the pages of a monitor serving a SQLite store,
// clicks links and forms, watches live updates arrive, fails on any
// console error, uncaught exception, Content-Security-Policy violation,
// failed request or HTTP error, and takes screenshots (those of
// docs/monitor.md). It is a module of its own so that neither the library
// nor the monitor requires chromedp; the root's `go test ./...` runs it
// (see internal/modules). docs/testing.md says how to run it.
package browsertest
