package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// mixedHelper is a program that writes history records to a database, or
// counts them, through this package: built with the other driver than the
// test's, it is the second process of TestMixedDriversShareAFile.
const mixedHelper = `package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// usage: helper write PATH PREFIX N | helper count PATH PREFIX N
func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, _ := strconv.Atoi(os.Args[4])
	be, err := statebackend.Open(sqlite.Open(os.Args[2]))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	defer be.Close()
	fmt.Println("open pure-go", sqlite.PureGo)
	got := 0
	for i := range n {
		id := statebackend.InvocationID(os.Args[3] + strconv.Itoa(i))
		if os.Args[1] == "write" {
			ts := time.Unix(1700000000, int64(i)*1000).UTC()
			h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRegistered, Timestamp: ts}}
			err = be.AddHistory(ctx, []statebackend.InvocationID{id}, h)
			got++
		} else {
			var hs []statebackend.InvocationHistory
			hs, err = be.History(ctx, id)
			got += len(hs)
		}
		if err != nil {
			fmt.Println("error", id, err)
			os.Exit(1)
		}
	}
	fmt.Println("done", got)
}
`

// TestMixedDriversShareAFile proves that a process built with cgo
// (go-sqlite3) and one built without (the pure-Go modernc.org/sqlite)
// share one database file, as processes of one build do: both open a file
// that does not exist yet (racing to create the schema), then write at
// once, each in one history record per call; neither sees an error, and
// afterwards each process reads every record of both, nothing lost. The
// helper process is built with the other driver: CGO_ENABLED=0 when this
// test runs on go-sqlite3, cgo when it runs on the pure-Go driver (with
// -tags statebackend_purego).
func TestMixedDriversShareAFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program; skipped with -short")
	}
	if !testHasCgo {
		t.Skip("this test binary has no cgo (CGO_ENABLED=0): it cannot build the go-sqlite3 side; run it with cgo")
	}
	t.Parallel()
	const n = 300
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	helper := buildMixedHelper(t, dir)
	path := filepath.Join(dir, "shared.db")

	cmd := exec.CommandContext(ctx, helper, "write", path, "other-", strconv.Itoa(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	// Write from this process while the helper writes: several goroutines,
	// as a worker pool does.
	be, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				id := statebackend.InvocationID("this-" + strconv.Itoa(i))
				ts := time.Unix(1700000000, int64(i)*1000).UTC()
				h := statebackend.InvocationHistory{Timestamp: ts, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRegistered, Timestamp: ts}}
				if err := be.AddHistory(ctx, []statebackend.InvocationID{id}, h); err != nil {
					errs <- fmt.Errorf("AddHistory %s: %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var out []string
	for l := range lines {
		out = append(out, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v; output:\n%s", err, strings.Join(out, "\n"))
	}
	want := fmt.Sprintf("open pure-go %v", !sqlite.PureGo)
	if len(out) != 2 || out[0] != want || out[1] != fmt.Sprintf("done %d", n) {
		t.Fatalf("helper output:\n%s\nwant %q and \"done %d\"", strings.Join(out, "\n"), want, n)
	}

	// Every record of both, read by this process and by the helper.
	for _, prefix := range []string{"this-", "other-"} {
		got := 0
		for i := range n {
			hs, err := be.History(ctx, statebackend.InvocationID(prefix+strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			got += len(hs)
		}
		if got != n {
			t.Errorf("this process reads %d records written with prefix %q, want %d", got, prefix, n)
		}
		res, err := exec.CommandContext(ctx, helper, "count", path, prefix, strconv.Itoa(n)).CombinedOutput()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(res)), fmt.Sprintf("done %d", n)) {
			t.Errorf("the helper counting prefix %q: %v; output:\n%s", prefix, err, res)
		}
	}
}

// buildMixedHelper builds mixedHelper in dir with the driver this test
// binary does not use, and returns the program's path.
func buildMixedHelper(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "helper.go")
	if err := os.WriteFile(src, []byte(mixedHelper), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "helper")
	cmd := exec.Command("go", "build", "-o", prog, src)
	// This package's directory, in the module: the helper's imports
	// resolve to this checkout.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if sqlite.PureGo {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the helper: %v\n%s", err, out)
	}
	return prog
}
