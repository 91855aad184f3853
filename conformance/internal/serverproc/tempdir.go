package serverproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TempDir creates the directory of one cluster's servers, named
// "prefix-PID-random" in the system's temporary directory, PID being the
// test binary's. A test binary that dies without cleaning up (killed, or
// stopped by -timeout) leaves its directories behind, which can hold
// gigabytes; its servers died with it. So TempDir first removes the
// directories of this prefix whose PID no longer runs.
func TempDir(prefix string) (string, error) {
	removeStale(prefix)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s-%d-", prefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create a directory for the servers: %w", err)
	}
	return dir, nil
}

// removeStale removes what TempDir created for test binaries that have
// exited. A PID that runs again (reused) keeps its directory: a leak, never
// a removal under a live server.
func removeStale(prefix string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-*-*"))
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), prefix+"-")
		pid, err := strconv.Atoi(rest[:strings.IndexByte(rest, '-')])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
