package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// servingLine is the line serve prints on stderr once it listens.
var servingLine = regexp.MustCompile(`^statebackend: serving .* on (http://127\.0\.0\.1:[0-9]+/)$`)

// syncBuffer is a buffer that a command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// served is a serve command running in this process.
type served struct {
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelCauseFunc
	code   chan int
}

// startServe runs the command line args, a serve, in this process with
// the environment env, and returns once it prints the URL it serves.
func startServe(t *testing.T, env map[string]string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &served{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() { s.code <- run(ctx, args, s.stdout, s.stderr, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		cancel(&interrupted{sig: syscall.SIGTERM})
		select {
		case <-s.code:
		case <-time.After(time.Minute):
			t.Error("serve did not end a minute after its context")
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		line, _, _ := strings.Cut(s.stderr.String(), "\n")
		if m := servingLine.FindStringSubmatch(line); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case code := <-s.code:
			s.code <- code
			t.Fatalf("serve ended with %d before serving; stderr:\n%s", code, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no URL after a minute; stderr:\n%s", s.stderr.String())
		}
	}
}

// stop ends the serve as the signal sig would and returns its exit code.
func (s *served) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	s.cancel(&interrupted{sig: sig})
	select {
	case code := <-s.code:
		s.code <- code
		return code
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop a minute after the signal")
	}
	return -1
}

// get requests url with method, applying set to the request, and returns
// the status code and body.
func get(t *testing.T, method, url string, set func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// fileSum returns the SHA-256 of the file at path.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestServePages serves the test dataset on a free port and reads its
// pages: the overview and the invocation list show the app's data, a POST
// is refused, the pages show the database, and the stop ends with the
// CLI's interrupt exit code.
func TestServePages(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	s := startServe(t, nil, "--db", "sqlite:"+path, "--app", "shop", "serve", "--addr", "127.0.0.1:0")
	if strings.Contains(s.url, ":0/") {
		t.Fatalf("serve printed the port it was given, not the one it listens on: %s", s.url)
	}
	code, body := get(t, http.MethodGet, s.url, nil)
	if code != http.StatusOK || !strings.Contains(body, "shop") || !strings.Contains(body, "tests.app") {
		t.Fatalf("GET /: %d, want 200 with the app's info:\n%s", code, body)
	}
	if !strings.Contains(body, "sqlite:"+path) {
		t.Errorf("GET /: the page does not show the database sqlite:%s", path)
	}
	code, body = get(t, http.MethodGet, s.url+"invocations", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /invocations: %d:\n%s", code, body)
	}
	for _, want := range []string{invID(0), invID(9), "reports.build"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /invocations does not show %s", want)
		}
	}
	if code, _ := get(t, http.MethodPost, s.url+"invocations", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /invocations: %d, want 405", code)
	}
	if got := s.stop(t, syscall.SIGINT); got != 130 {
		t.Errorf("exit %d after SIGINT, want 130; stderr:\n%s", got, s.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(s.stderr.String(), "\n"), "\n")
	if len(lines) != 2 || lines[1] != "statebackend: serve interrupted by SIGINT: the server stopped; it wrote nothing" {
		t.Errorf("stderr is not the serving line and the interruption line:\n%s", s.stderr.String())
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("serve wrote to stdout: %q", out)
	}
}

// TestServeSeesOtherWriters serves a SQLite file that another process's
// backend writes while it serves: the page of the invocation shows the
// result committed after serve opened the file.
func TestServeSeesOtherWriters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	s := startServe(t, nil, "--db", "sqlite:"+path, "--app", "shop", "serve", "--addr", "127.0.0.1:0")
	page := s.url + "invocations/" + invID(1)
	if code, body := get(t, http.MethodGet, page, nil); code != http.StatusOK || strings.Contains(body, "fresh-result") {
		t.Fatalf("GET %s before the write: %d:\n%s", page, code, body)
	}
	w, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetResult(t.Context(), statebackend.InvocationID(invID(1)), []byte(`"fresh-result"`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := get(t, http.MethodGet, page, nil)
		if code == http.StatusOK && strings.Contains(body, "fresh-result") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s shows no result written after serve opened the file, a minute on: %d", page, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeRefusesBeyondLoopback: an address beyond loopback without
// credentials is a usage error, found before the database is opened (the
// database here does not exist) and so before anything listens.
func TestServeRefusesBeyondLoopback(t *testing.T) {
	t.Parallel()
	missing := "sqlite:" + filepath.Join(t.TempDir(), "missing.db")
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:80"} {
		_, stderr, code := runCode(t.Context(), "--db", missing, "serve", "--addr", addr)
		if code != exitUsage || !strings.Contains(stderr, "listens beyond loopback") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("serve --addr %s: exit %d, want 2 with one line refusing it: %s", addr, code, stderr)
		}
	}
	// With credentials the address passes, and the missing database fails.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--token", "t0ken"},
		{"--user", "ops", "--password-file", pwFile},
	} {
		_, stderr, code := runCode(t.Context(), append([]string{"--db", missing, "serve", "--addr", "0.0.0.0:0"}, args...)...)
		if code != exitFailure || !strings.Contains(stderr, "no SQLite database") {
			t.Errorf("serve --addr 0.0.0.0:0 %s: exit %d, want 1 for the missing database: %s", strings.Join(args, " "), code, stderr)
		}
	}
	// Loopback hosts need none.
	for _, host := range []string{"127.0.0.1", "127.8.9.10", "::1", "localhost", "LocalHost"} {
		if !isLoopbackHost(host) {
			t.Errorf("isLoopbackHost(%q) = false", host)
		}
	}
	for _, host := range []string{"", "0.0.0.0", "::", "10.0.0.1", "localhost.example.com", "128.0.0.1"} {
		if isLoopbackHost(host) {
			t.Errorf("isLoopbackHost(%q) = true", host)
		}
	}
	// Bad credentials flags are usage errors too.
	for _, args := range [][]string{
		{"--user", "ops"},
		{"--password-file", pwFile},
		{"--token", ""},
		{"--token", "x", "--user", "ops", "--password-file", pwFile},
		{"--user", "ops", "--password-file", filepath.Join(t.TempDir(), "none")},
		{"--addr", "8080"},
	} {
		_, stderr, code := runCode(t.Context(), append([]string{"--db", missing, "serve"}, args...)...)
		if code != exitUsage {
			t.Errorf("serve %s: exit %d, want 2: %s", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestServeToken: with a token (from the environment) every page needs
// it, as a bearer token or as the basic authentication password; the
// token is never printed.
func TestServeToken(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	const token = "s3cret-serve-token"
	s := startServe(t, map[string]string{serveTokenEnv: token}, "--db", "sqlite:"+path, "--app", "shop", "serve", "--addr", "127.0.0.1:0")
	for _, c := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"no credentials", nil, http.StatusUnauthorized},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, http.StatusOK},
		{"basic", func(r *http.Request) { r.SetBasicAuth("anyone", token) }, http.StatusOK},
	} {
		for _, p := range []string{"", "invocations"} {
			if code, _ := get(t, http.MethodGet, s.url+p, c.set); code != c.want {
				t.Errorf("GET /%s with %s: %d, want %d", p, c.name, code, c.want)
			}
		}
	}
	if got := s.stop(t, syscall.SIGTERM); got != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", got)
	}
	if strings.Contains(s.stderr.String(), token) {
		t.Errorf("stderr shows the token:\n%s", s.stderr.String())
	}
}

// TestServeBasicAuth: with --user and --password-file the pages need that
// user and password.
func TestServeBasicAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	seedFile(t, path)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("hunter2-pw\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, nil, "--db", "sqlite:"+path, "--app", "shop", "serve", "--addr", "localhost:0",
		"--user", "ops", "--password-file", pwFile)
	for _, c := range []struct {
		user, pw string
		want     int
	}{
		{"", "", http.StatusUnauthorized},
		{"ops", "wrong", http.StatusUnauthorized},
		{"other", "hunter2-pw", http.StatusUnauthorized},
		{"ops", "hunter2-pw", http.StatusOK},
	} {
		set := func(r *http.Request) {
			if c.user != "" {
				r.SetBasicAuth(c.user, c.pw)
			}
		}
		if code, _ := get(t, http.MethodGet, s.url, set); code != c.want {
			t.Errorf("GET / as %q/%q: %d, want %d", c.user, c.pw, code, c.want)
		}
	}
}

// TestServeHidesThePassword: the label serve gives the monitor is the
// URL with its password replaced, and a failure to reach a Postgres
// server does not print the password.
func TestServeHidesThePassword(t *testing.T) {
	t.Parallel()
	const pw = "pa55-w0rd-xyz"
	for _, raw := range []string{
		"postgres://ops:" + pw + "@127.0.0.1:1/app?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=1 user=ops password=" + pw + " dbname=app sslmode=disable connect_timeout=5",
	} {
		u, err := parseDBURL("--db", raw)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(u.shown, pw) || !strings.Contains(u.shown, "127.0.0.1") {
			t.Errorf("the label of %q is %q", raw, u.shown)
		}
		stdout, stderr, code := runCode(t.Context(), "--db", raw, "serve", "--addr", "127.0.0.1:0")
		if code != exitFailure || strings.Contains(stdout+stderr, pw) || !strings.Contains(stderr, "cannot reach") {
			t.Errorf("serve on an unreachable server: exit %d, want 1 without the password:\n%s%s", code, stdout, stderr)
		}
	}
}

// TestServeInterruptedProcess runs serve as a process, keeps a live update
// stream open, and sends SIGINT: the process stops (the stream does not
// hold it) with exit 130, and the SQLite file is as it was.
func TestServeInterruptedProcess(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("statebackend")
	if err != nil {
		t.Fatalf("the statebackend command is not on PATH (set up by TestMain): %v", err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	before := fileSum(t, path)
	cmd := exec.Command(bin, "--db", "sqlite:"+path, "--app", "shop", "serve", "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	select {
	case l := <-lines:
		m := servingLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first line on stderr: %q", l)
		}
		url = m[1]
	case <-time.After(time.Minute):
		t.Fatal("no URL on stderr after a minute")
	}

	// A live update stream, open when the signal comes.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest []string
	timeout := time.After(time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			rest = append(rest, l)
		case <-timeout:
			t.Fatal("serve still runs a minute after SIGINT")
		}
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130; stderr after the URL: %q", code, rest)
	}
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "statebackend: serve interrupted by SIGINT") {
		t.Errorf("stderr after the URL: %q, want the interruption line", rest)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("the stream ended with %v", err)
	}
	if after := fileSum(t, path); after != before {
		t.Errorf("serve changed %s", path)
	}
}
