// Package modules runs, from the library's module, the tests of the
// repository's other modules (the statebackend command, the benchmark
// tools, the observability example and the telemetry tests that need the
// OpenTelemetry SDK), which go.work ties to the library: `go test ./...`
// at the root then tests every module. It has no code of its own.
package modules
