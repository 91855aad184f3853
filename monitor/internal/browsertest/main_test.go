package browsertest

import (
	"fmt"
	"os"
	"testing"

	"github.com/taskstate/statebackend/internal/leakcheck"
)

// TestMain fails the run when a goroutine is left over: the browser, the
// server and the store a test started are all closed by then.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
