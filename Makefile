# Developer targets. Only ci, ci-load and scale-out install anything: tools
# run with `go run` at pinned versions, and the database legs of the tests
# run when Docker or a DSN is there (see CONTRIBUTING.md).

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: check fmt vet staticcheck test race ci ci-load scale-out browser screenshots quickstart bench

## check: gofmt, go vet, staticcheck and the tests with the race detector
check: fmt vet staticcheck race

## fmt: fail, listing them, when files are not gofmt-formatted
fmt:
	@files="$$(gofmt -l .)"; if [ -n "$$files" ]; then echo "gofmt: run gofmt -w on:"; echo "$$files"; exit 1; fi

# Every module of the workspace (go.work): the module path's pattern covers them all.
PACKAGES := github.com/taskstate/statebackend/...

vet:
	go vet $(PACKAGES)

staticcheck:
	go run $(STATICCHECK) $(PACKAGES)

## test: the tests (SQLite always; Postgres and MySQL when available)
test:
	go test ./...

race:
	go test -race -count=1 ./...

## ci: what CI runs on a fresh machine (installs and starts Docker and the database images)
ci:
	bash .ci/run

## ci-load: CI on a clone of HEAD beside two CPU-burning processes, to catch
## tests that depend on how fast a goroutine, process or server is (as
## root, 10-25 minutes)
ci-load:
	bash scripts/ci-under-load.sh

## scale-out: installs Postgres 15, MariaDB, Galera and PgBouncer from Debian
## (as root; no service is started), then runs only the read-replica, Galera
## and change-feed fault tests, which start their own servers on loopback
scale-out:
	bash .ci/scaleout.sh
	STATEBACKEND_TEST_REQUIRE=pgreplica,galera,pgbouncer go test -race -count=1 ./conformance/pgreplicatest ./conformance/galeratest ./conformance/pgbouncertest ./scaleout
	STATEBACKEND_TEST_REQUIRE=pgreplica,galera,pgbouncer go test -race -count=1 -run 'Replica|Galera|WriteClock|WatchFaults|WatchWaitsFor' . ./reliability

## browser: installs Chromium from Debian (as root; nothing is started),
## then runs the web monitor's test in a headless browser
browser:
	bash .ci/browser.sh
	STATEBACKEND_TEST_REQUIRE=browser go test -race -count=1 ./monitor/internal/browsertest

# The screenshots of docs/monitor.md, by the browser test's names.
SCREENSHOTS := overview invocations invocation timeline

## screenshots: the browser test, writing its screenshots into a temporary
## directory, from which those of docs/monitor.md are copied to docs/img
screenshots:
	@dir="$$(mktemp -d)" && trap 'rm -rf "$$dir"' EXIT && \
	STATEBACKEND_TEST_REQUIRE=browser STATEBACKEND_SCREENSHOTS="$$dir" go test -count=1 -run '^TestBrowser$$' ./monitor/internal/browsertest && \
	for s in $(SCREENSHOTS); do cp "$$dir/$$s.png" docs/img/ || exit 1; done

quickstart:
	go run ./examples/quickstart

## bench: the benchmark driver on SQLite, N=20000, both implementations
bench:
	go run ./cmd/statebench -n 20000 -runs 3
