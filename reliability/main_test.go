// Package reliability_test holds the tests that try to make the GORM backend
// lose data or surface errors callers should never see: several OS processes
// writing one SQLite file, goroutines contending on Postgres, MySQL and the
// three nodes of a Galera cluster, a writer killed with SIGKILL
// mid-transaction, fuzzed payloads, hostile app ids and leaked passwords;
// and those that try to hold a call past its deadline (a SQLite lock another
// process holds, writes queued in the group committer, a server behind a
// proxy that stops answering), read-only databases, and goroutines left
// behind by Close.
//
// The multi-process tests re-execute this test binary: the parent starts
// children with -test.run naming a child test (TestChild...) and the
// environment variable RELIABILITY_CHILD; child tests skip when it is unset.
// Children talk to the parent with lines starting with "@rel " on stdout.
//
// Sizes and seeds come from the environment (defaults in parentheses):
//
//	RELIABILITY_SEED                 seed of every random choice (random, logged)
//	RELIABILITY_PROCS                writer processes of TestMultiProcessSQLite (4)
//	RELIABILITY_GOROUTINES           goroutines per writer process (4)
//	RELIABILITY_OPS                  operations per goroutine (30)
//	RELIABILITY_CRASH_RUNS           kills of TestCrashAtomicity (4)
//	RELIABILITY_CRASH_BATCH          invocations per crash-test batch (10000)
//	RELIABILITY_CONTENTION_WORKERS   goroutines of the contention tests (16)
//	RELIABILITY_CONTENTION_ROUNDS    rounds of the contention tests (6)
package reliability_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance/galeratest"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/internal/leakcheck"
)

// TestMain removes the database containers the tests started and fails
// the run if a goroutine is left over.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = pgtest.Terminate()
	_ = mysqltest.Terminate()
	_ = galeratest.Terminate()
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// childEnv names the child role a re-executed test binary plays.
const childEnv = "RELIABILITY_CHILD"

// protocolPrefix starts every line a child writes for its parent.
const protocolPrefix = "@rel "

// envInt returns the integer in the environment variable name, or def.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// seed returns RELIABILITY_SEED, or a random seed; either way it is logged
// so a failing run can be repeated.
func seed(t testing.TB) uint64 {
	t.Helper()
	if s := os.Getenv("RELIABILITY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RELIABILITY_SEED=%q: want an unsigned integer", s)
		}
		return n
	}
	n := rand.Uint64() >> 1
	t.Logf("RELIABILITY_SEED=%d (set it to repeat this run)", n)
	return n
}

// childRole returns the role this process plays, skipping t when it is not
// the child wanted: child tests run only when a parent starts them.
func childRole(t *testing.T, want string) {
	t.Helper()
	if os.Getenv(childEnv) != want {
		t.Skipf("child process test; runs only when started by its parent (%s=%s)", childEnv, want)
	}
}

// say writes a protocol line for the parent.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stdout, protocolPrefix+format+"\n", args...)
}

// child is a re-executed test binary running one child test.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // protocol lines, without the prefix; closed at EOF

	mu       sync.Mutex
	out      strings.Builder // everything the child wrote
	protocol []string        // every protocol line, without the prefix

	done chan struct{} // closed when the process has exited
	code int           // exit code, valid once done is closed (-1: killed by a signal)
}

// startChild starts this test binary running only the test named test, as
// child role with the extra environment env. The child is killed when ctx
// ends or t ends.
func startChild(ctx context.Context, t *testing.T, name, test, role string, env ...string) *child {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 1<<16), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pw.Close() // the child holds the write end now
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		defer close(c.lines)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, protocolPrefix)
			c.mu.Lock()
			c.out.WriteString(line + "\n")
			if ok {
				c.protocol = append(c.protocol, rest)
			}
			c.mu.Unlock()
			if ok {
				c.lines <- rest
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		<-eof
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// expect waits for a protocol line starting with want and returns it, failing
// t if the child ends or timeout passes first.
func (c *child) expect(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.done
				t.Fatalf("%s exited (code %d) before saying %q; output:\n%s", c.name, c.code, want, c.output())
			}
			if strings.HasPrefix(line, want) {
				return line
			}
		case <-deadline:
			t.Fatalf("%s did not say %q within %v; output:\n%s", c.name, want, timeout, c.output())
		}
	}
}

// wait waits for the child to exit and returns every protocol line it
// wrote (those expect consumed included) and its exit code.
func (c *child) wait() (lines []string, code int) {
	for range c.lines {
	}
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.protocol), c.code
}

// output returns everything the child has written so far.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// field returns the value of key=value in a protocol line, or "".
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}
