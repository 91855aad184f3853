//go:build linux

package sqlite

import "syscall"

// stRdonly is ST_RDONLY of statfs(2): the mount, or its file system, is
// read-only.
const stRdonly = 0x1

// onReadOnlyMount reports whether path is on a read-only mount: a file
// system mounted read-only, or a read-only bind mount of a writable one.
func onReadOnlyMount(path string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(path, &st) == nil && int64(st.Flags)&stRdonly != 0
}
