//go:build unix

package sqlite

import "syscall"

// writable returns why the process cannot create files in dir (a read-only
// file system, missing permission), nil when it can.
func writable(dir string) error {
	const wOK = 0x2 // W_OK of access(2)
	return syscall.Access(dir, wOK)
}
