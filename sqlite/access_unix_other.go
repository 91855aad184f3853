//go:build unix && !linux

package sqlite

import (
	"errors"
	"syscall"
)

// onReadOnlyMount reports whether path is on a read-only file system, as
// far as access(2) tells: outside Linux, without statfs flags, a file the
// process has no permission to write is not recognized as such.
func onReadOnlyMount(path string) bool {
	return errors.Is(syscall.Access(path, wOK), syscall.EROFS)
}
