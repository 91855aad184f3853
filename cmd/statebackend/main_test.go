package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// TestMain makes the test binary also the statebackend command (testscript
// puts it on the PATH of scripts and of the tests that run it as a
// process), and removes the database containers at the end.
func TestMain(m *testing.M) {
	testscript.Main(cleanup{m}, map[string]func(){
		"statebackend": func() { os.Exit(runMain()) },
	})
}

type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	for _, terminate := range []func() error{pgtest.Terminate, mysqltest.Terminate} {
		if err := terminate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	return code
}

// TestScripts runs the scripts of testdata/script: every command and
// error path on SQLite, with golden output.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("STATEBACKEND_DB", "")
			env.Setenv("FIXTURES", mustAbs(filepath.Join("testdata", "pynenc")))
			// The schema v0.1.0 created, as DDL: an old database to migrate.
			env.Setenv("V010", mustAbs(filepath.Join("..", "..", "internal", "schematest", "testdata", "v0.1.0")))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seed":     cmdSeed,
			"record":   cmdRecord,
			"loadsql":  cmdLoadSQL,
			"exitcode": cmdExitCode,
			"mask":     cmdMask,
		},
		RequireExplicitExec: true,
		// UPDATE_GOLDEN=1 go test ./cmd/statebackend -run TestScripts rewrites
		// the golden files from the output (review the diff).
		UpdateScripts: os.Getenv("UPDATE_GOLDEN") != "",
	})
}

// cmdSeed writes the test dataset: seed PATH APP [N].
func cmdSeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: seed PATH APP [N]")
	}
	n := 3
	if len(args) == 3 {
		var err error
		if n, err = strconv.Atoi(args[2]); err != nil {
			ts.Fatalf("seed: N: %v", err)
		}
	}
	b, err := statebackend.Open(sqlite.Open(ts.MkAbs(args[0])), statebackend.WithAppID(args[1]))
	ts.Check(err)
	defer b.Close()
	ts.Check(seed(context.Background(), b, args[1], n))
}

// cmdRecord adds a history record to an invocation through the library:
// record PATH APP INVOCATION STATUS TIME [RUNNER] (the runner context,
// runner-1 by default).
func cmdRecord(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 || len(args) > 6 {
		ts.Fatalf("usage: record PATH APP INVOCATION STATUS TIME [RUNNER]")
	}
	at, err := state.ParseTimestamp(args[4])
	ts.Check(err)
	runner := "runner-1"
	if len(args) == 6 {
		runner = args[5]
	}
	b, err := statebackend.Open(sqlite.Open(ts.MkAbs(args[0])), statebackend.WithAppID(args[1]))
	ts.Check(err)
	defer b.Close()
	if runner != "runner-1" {
		ts.Check(b.StoreRunnerContext(context.Background(), statebackend.RunnerContext{
			RunnerCls: "ProcessRunner", RunnerID: runner, PID: 102, Hostname: "host-b",
		}))
	}
	ts.Check(b.AddHistory(context.Background(), []statebackend.InvocationID{statebackend.InvocationID(args[2])}, statebackend.InvocationHistory{
		Timestamp: at, RunnerContextID: runner,
		StatusRecord: statebackend.StatusRecord{Status: statebackend.Status(args[3]), RunnerID: runner, Timestamp: at},
	}))
}

// cmdLoadSQL runs a file of SQL statements on a new SQLite file:
// loadsql PATH FILE.
func cmdLoadSQL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: loadsql PATH FILE")
	}
	ts.Check(loadSQL(ts.MkAbs(args[0]), ts.MkAbs(args[1])))
}

// loadSQL runs the SQL text of file on the SQLite file at path, as
// pynenc's sqlite3 module would: plain SQLite, no library involved.
func loadSQL(path, file string) error {
	text, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	db, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(string(text))
	return err
}

// cmdExitCode runs a command and checks its exit code:
// exitcode N COMMAND ARGS... (stdout and stderr are kept, as exec keeps
// them).
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// sizes matches what status prints of sizes, which vary with the SQLite
// version and page layout.
var sizes = regexp.MustCompile(`[0-9.]+ [KMG]?i?B \([0-9]+ bytes\)|"size_bytes": [0-9]+`)

// tableSizes match the sizes status prints of single tables, which SQLite
// tells only when built with the dbstat table: modernc.org/sqlite (the
// build without cgo) has it, go-sqlite3 as built here has not.
var (
	tableSizeText = regexp.MustCompile(`(?m)^(.+ +[0-9]+ +)[0-9.]+ [KMG]?i?B$`)
	tableSizeJSON = regexp.MustCompile(`("rows": [0-9]+,\s*"size_bytes": )[0-9]+`)
)

// cursors match the page cursors invocations prints, which the backend
// encodes as it likes.
var cursors = regexp.MustCompile(`(next cursor: |--after |"next_cursor":")('[^']*'|[^\s"]+)`)

// cmdMask writes stdout with sizes replaced by SIZE, the sizes of single
// tables by the output of a build without the dbstat table, and page
// cursors by CURSOR: mask FILE.
func cmdMask(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mask FILE")
	}
	out := ts.ReadFile("stdout")
	out = tableSizeText.ReplaceAllString(out, "${1}-")
	out = tableSizeJSON.ReplaceAllString(out, "${1}null")
	out = sizes.ReplaceAllString(out, "SIZE")
	out = cursors.ReplaceAllString(out, "${1}CURSOR")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(out), 0o644))
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return abs
}
