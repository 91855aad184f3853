package monitor_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyTheContract checks that the monitor depends on package
// state alone of this module, and on the standard library besides: it
// serves any backend, and a program that mounts it links no database
// driver and no ORM through it.
func TestImportsOnlyTheContract(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/taskstate/statebackend/monitor": true,
		"github.com/taskstate/statebackend/state":   true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed[dep] {
			t.Errorf("the monitor depends on %s", dep)
		}
	}
}
