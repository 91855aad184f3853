package modules_test

import (
	"bufio"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// root is the repository's root, where go.work lives.
const root = "../.."

// envRead lists the environment variables the modules' tests read: read
// here, so that go's test cache reruns this test when one changes.
var envRead = []string{
	"STATEBACKEND_TEST_REQUIRE", "STATEBACKEND_TEST_CHROMIUM", "STATEBACKEND_SCREENSHOTS",
	"STATEBACKEND_TEST_POSTGRES_DSN", "STATEBACKEND_TEST_MYSQL_DSN",
	"STATEBACKEND_TEST_POSTGRES_IMAGE", "STATEBACKEND_TEST_MYSQL_IMAGE",
	"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG",
	"GOFLAGS", "CGO_ENABLED", "PATH",
}

// TestModules runs `go test ./...` in every module of the workspace but
// the root's, each as a subtest named after its directory, passing on the
// flags this test was run with (-race, -short, -v, an explicit -count)
// and the time left before its deadline.
func TestModules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH: the other modules' tests need it")
	}
	for _, name := range envRead {
		os.Getenv(name)
	}
	modules := workspaceModules(t)
	if len(modules) == 0 {
		t.Fatal("go.work lists no module besides the root's")
	}
	// The modules' tests use the root module's packages too.
	readSources(t, root)
	// One module after the other: each `go test` runs its packages in
	// parallel already.
	for _, dir := range modules {
		t.Run(dir, func(t *testing.T) {
			args := append([]string{"test"}, forwardedFlags(t)...)
			cmd := exec.Command("go", append(args, "./...")...)
			cmd.Dir = filepath.Join(root, dir)
			out, err := cmd.CombinedOutput()
			if testing.Verbose() || err != nil {
				t.Logf("go %s ./... in %s:\n%s", strings.Join(args, " "), dir, out)
			}
			if err != nil {
				t.Fatalf("the tests of module %s failed: %v", dir, err)
			}
		})
	}
}

// workspaceModules returns the directories go.work uses, but the root.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "use ("):
			in = true
		case in && line == ")":
			in = false
		case in && line != "" && !strings.HasPrefix(line, "//"):
			if dir := filepath.Clean(line); dir != "." {
				dirs = append(dirs, dir)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dirs
}

// readSources opens every Go source, module file and test data file under
// dir: go's test cache then knows this test's result depends on them, and
// reruns it when one changes.
func readSources(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" && name != "go.work" &&
			!strings.Contains(filepath.ToSlash(path), "/testdata/") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// forwardedFlags returns the go test flags to run the modules' tests with.
func forwardedFlags(t *testing.T) []string {
	var out []string
	if raceEnabled {
		out = append(out, "-race")
	}
	if testing.Short() {
		out = append(out, "-short")
	}
	if testing.Verbose() {
		out = append(out, "-v")
	}
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.count" {
			out = append(out, "-count="+f.Value.String())
		}
	})
	if deadline, ok := t.Deadline(); ok {
		// Leave this test a little time to report.
		if left := time.Until(deadline) - 30*time.Second; left > 0 {
			out = append(out, "-timeout="+left.Round(time.Second).String())
		}
	}
	return out
}
