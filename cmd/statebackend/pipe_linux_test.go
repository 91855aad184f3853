package main

import (
	"os"
	"syscall"
	"testing"
)

// limitPipe shrinks the buffer of the pipe r reads from to one page
// (4 KiB, Linux's least), so that a process writing to the pipe runs at
// most that far ahead of the reader: it blocks until the reader catches
// up. Other systems keep their pipe buffer (see pipe_other_test.go).
func limitPipe(t *testing.T, r *os.File) {
	t.Helper()
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, 4096)
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatalf("shrink a pipe's buffer: %v", errno)
	}
}
