//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestReadCommandsOnReadOnlyMount runs every read command on SQLite files
// seen through a read-only bind mount, as a container sees a volume
// mounted read-only: a WAL database no process has open and one in
// rollback-journal mode. Each command works and leaves the files as they
// were; a command that writes fails, naming the read-only file system.
func TestReadCommandsOnReadOnlyMount(t *testing.T) {
	t.Parallel()
	bin := commandPath(t)
	src, out := t.TempDir(), t.TempDir()
	seedFile(t, filepath.Join(src, "wal.db"))
	seedFile(t, filepath.Join(src, "rollback.db"))
	setJournalMode(t, filepath.Join(src, "rollback.db"), "delete")
	dir := readOnlyMount(t, src)
	for _, name := range []string{"wal.db", "rollback.db"} {
		path := filepath.Join(dir, name)
		for _, args := range readCommands("sqlite:"+path, out) {
			before := dirDigest(t, src)
			if _, stderr, code := runProcess(t, bin, nil, args...); code != 0 {
				t.Fatalf("statebackend %s: exit %d: %s", strings.Join(args, " "), code, stderr)
			}
			if after := dirDigest(t, src); !slices.Equal(after, before) {
				t.Errorf("statebackend %s changed %s:\n%s\nwas\n%s", strings.Join(args, " "), src,
					strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
		}
		_, stderr, code := runProcess(t, bin, nil, "--db", "sqlite:"+path, "--app", "shop", "purge", "--yes")
		if code != 1 || !strings.Contains(stderr, "cannot open "+path+" for writing (read-only file system)") {
			t.Errorf("purge on a read-only mount: exit %d: %s, want exit 1 naming the read-only file system", code, stderr)
		}
	}
	if mode := journalMode(t, filepath.Join(src, "rollback.db")); mode != "delete" {
		t.Errorf("journal mode after the read commands: %s, want delete", mode)
	}
}

// readOnlyMount bind-mounts src read-only at a new directory and returns
// it; the mount is removed when t ends. It skips t where the process may
// not mount (not root, or no CAP_SYS_ADMIN in a container).
func readOnlyMount(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount (%v): the read-only mount test needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dst, 0); err != nil {
			t.Errorf("unmount %s: %v", dst, err)
		}
	})
	if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only (%v): the read-only mount test needs root with CAP_SYS_ADMIN", err)
	}
	if f, err := os.Create(filepath.Join(dst, "probe")); err == nil {
		f.Close()
		t.Fatalf("%s is writable after a read-only remount", dst)
	}
	return dst
}
