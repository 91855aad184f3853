//go:build unix

package sqlite

import "syscall"

// wOK is W_OK of access(2).
const wOK = 0x2

// writable returns why the process cannot create files in dir (a read-only
// file system, missing permission), nil when it can.
func writable(dir string) error {
	return syscall.Access(dir, wOK)
}

// mayWrite returns why the process cannot write the file at path, nil when
// it can.
func mayWrite(path string) error {
	return syscall.Access(path, wOK)
}
