// Package sdktest holds the tests of the store's telemetry that record it
// with the OpenTelemetry SDK: the exact spans and metrics of every call,
// on SQLite, Postgres and MySQL, and their cost. They live in a module of
// their own so that the library's module requires the OpenTelemetry API
// only, never the SDK; the root's `go test ./...` runs them (see
// internal/modules).
package sdktest
