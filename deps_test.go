package statebackend_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// drivers are the import paths of the database drivers. A program links a
// driver only through the database package it imports.
var drivers = []string{
	"github.com/mattn/go-sqlite3",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/go-sql-driver/mysql",
	"gorm.io/driver/",
}

// TestNoDriverInCorePackages checks that the packages every user compiles
// import no database driver: a program pays only for the databases it uses.
func TestNoDriverInCorePackages(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{".", "./state", "./dialect", "./entities", "./repository", "./migrations", "./conformance"} {
		out := goCmd(t, nil, "list", "-deps", pkg)
		for _, dep := range strings.Fields(out) {
			for _, d := range drivers {
				if strings.HasPrefix(dep, d) {
					t.Errorf("%s depends on the driver %s", pkg, dep)
				}
			}
		}
	}
}

// TestDatabasePackagesImportOnlyTheContract checks that the database
// packages depend on the driver contract (package dialect) and package
// state, never on the store (the root package) or its ORM layer: a
// database package is a driver, below everything it serves.
func TestDatabasePackagesImportOnlyTheContract(t *testing.T) {
	t.Parallel()
	const module = "github.com/taskstate/statebackend"
	allowed := map[string]bool{module + "/dialect": true, module + "/state": true}
	for _, pkg := range []string{"sqlite", "postgres", "mysql"} {
		out := goCmd(t, nil, "list", "-deps", "./"+pkg)
		for _, dep := range strings.Fields(out) {
			if dep == module+"/"+pkg || !(dep == module || strings.HasPrefix(dep, module+"/")) {
				continue
			}
			if !allowed[dep] {
				t.Errorf("%s depends on %s; a database package may import only dialect and state of this module", pkg, dep)
			}
		}
	}
}

// TestServerPackagesBuildWithoutCgo builds a program that imports only the
// Postgres package, and one that imports only the MySQL package, with
// CGO_ENABLED=0: how static binaries for scratch images are built.
func TestServerPackagesBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs; skipped with -short")
	}
	t.Parallel()
	// One after the other: the second reuses what the first compiled.
	for _, db := range []string{"postgres", "mysql"} {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			src := `package main

import (
	"fmt"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/` + db + `"
)

func main() {
	b, err := statebackend.Open(` + db + `.Open("unused"))
	fmt.Println(b, err)
}
`
			main := filepath.Join(dir, "main.go")
			if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			goCmd(t, []string{"CGO_ENABLED=0"}, "build", "-o", filepath.Join(dir, "prog"), main)
			// And nothing of SQLite came along.
			out := goCmd(t, []string{"CGO_ENABLED=0"}, "list", "-deps", main)
			if strings.Contains(out, "go-sqlite3") || strings.Contains(out, "modernc.org/sqlite") {
				t.Errorf("a %s-only program depends on go-sqlite3", db)
			}
		})
	}
}

// goCmd runs the go command in the module and returns its output.
func goCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNoTelemetrySDKInLibrary checks that the library uses the OpenTelemetry
// API only: the application chooses the SDK and exporters (or none), and
// nothing of GORM's OpenTelemetry plugin, which compiles every database
// driver in, comes along.
func TestNoTelemetrySDKInLibrary(t *testing.T) {
	t.Parallel()
	forbidden := []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters/", "gorm.io/plugin/opentelemetry"}
	for _, pkg := range []string{".", "./repository", "./sqlite", "./postgres", "./mysql"} {
		out := goCmd(t, nil, "list", "-deps", pkg)
		for _, dep := range strings.Fields(out) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
		if pkg == "." && !strings.Contains(out, "go.opentelemetry.io/otel/trace\n") {
			t.Errorf("the root package does not use the OpenTelemetry trace API; the check above proves nothing")
		}
	}
}
