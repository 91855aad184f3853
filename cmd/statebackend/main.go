// Command statebackend is the operator's tool for a pynenc state database
// kept by github.com/taskstate/statebackend: it shows what is stored
// (status, inspect, workflows, history), prints the changes as they
// commit (watch), serves a web monitor of it (serve), deletes it (purge), copies an
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
// mysql://user:pass@host:3306/db?params; or as a Postgres keyword/value
// string ("host=db port=5432 user=ops dbname=app"). Passwords are never
// printed. `statebackend migrate --create` creates a new database.
//
// Exit codes: 0 success, 1 failure, 2 usage error, 130 and 143 stopped by
// SIGINT (Ctrl-C) and SIGTERM. Errors are one line on stderr that says what
// to do; so is an interruption, which says what running the command again
// does.
//
// The binary builds with or without cgo: with cgo (and a C compiler) SQLite
// is github.com/mattn/go-sqlite3, without it (CGO_ENABLED=0) the pure-Go
// modernc.org/sqlite, slower but with no C toolchain (see the sqlite
// package).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(runMain())
}

// runMain runs the process's command line until it ends or the process
// receives SIGINT or SIGTERM, and returns the exit code.
func runMain() int {
	ctx, stop := withInterrupt(context.Background())
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
}
