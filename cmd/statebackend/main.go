// Command statebackend is the operator's tool for a pynenc state database
// kept by github.com/taskstate/statebackend: it shows what is stored
// (status, inspect, workflows, history), deletes it (purge), copies an
// app's state between SQLite, Postgres and MySQL/MariaDB (copy), and brings
// over what pynenc's own SQLite state backend wrote (import-pynenc).
//
//	go install github.com/taskstate/statebackend/cmd/statebackend@latest
//	statebackend --db sqlite:state.db --app myapp status
//	statebackend --db postgres://user:pass@db:5432/app inspect 3f1c...
//	statebackend copy --from sqlite:state.db --to postgres://user:pass@db:5432/app --app myapp
//
// The database comes from --db or the STATEBACKEND_DB environment
// variable, as a URL: sqlite:PATH, postgres://... (or postgresql://) and
// mysql://user:pass@host:3306/db?params. Passwords are never printed.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Errors are one line on
// stderr that says what to do.
//
// The binary needs cgo (SQLite is compiled in through
// github.com/mattn/go-sqlite3): build it with CGO_ENABLED=1 and a C
// compiler.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
