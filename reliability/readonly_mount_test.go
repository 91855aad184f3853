//go:build linux

package reliability_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

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
		t.Skipf("cannot remount read-only (%v)", err)
	}
	if f, err := os.Create(filepath.Join(dst, "probe")); err == nil {
		f.Close()
		t.Fatalf("%s is writable after a read-only remount", dst)
	}
	return dst
}

// TestSQLiteOnReadOnlyMount proves what happens to a database file that
// exists on a read-only file system: opened as usual, Open fails naming the
// file and the read-only file system (errors.Is with ErrReadOnly and
// syscall.EROFS), instead of SQLite's "unable to open database file: no
// such file or directory", and so does a writable file in a read-only
// directory (naming the directory); opened ReadOnly (or WithReadOnly), a
// WAL database that no process has open (no -wal or -shm file) is readable,
// immutable, and one whose writer is still running (its -wal and -shm
// present) is readable, commits in the -wal file included;
// opened Immutable, it is readable and refuses writes with ErrReadOnly.
func TestSQLiteOnReadOnlyMount(t *testing.T) {
	src := t.TempDir()
	writeFixture(t, filepath.Join(src, "state.db"), "fixture")
	dst := readOnlyMount(t, src)
	path := filepath.Join(dst, "state.db")

	t.Run("read_write", func(t *testing.T) {
		_, err := statebackend.Open(sqlite.Open(path))
		if !errors.Is(err, statebackend.ErrReadOnly) || !errors.Is(err, syscall.EROFS) {
			t.Fatalf("open on a read-only mount: %v, want ErrReadOnly and EROFS", err)
		}
		for _, want := range []string{path, "read-only file system", "sqlite.ReadOnly()"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		t.Log(err)
	})
	t.Run("read_only_closed", func(t *testing.T) {
		// No process has the database open: mode=ro would need -wal and
		// -shm files the mount cannot take, so ReadOnly opens it immutable.
		for _, open := range []func() (statebackend.Backend, error){
			func() (statebackend.Backend, error) { return statebackend.Open(sqlite.Open(path, sqlite.ReadOnly())) },
			func() (statebackend.Backend, error) {
				return statebackend.Open(sqlite.Open(path), statebackend.WithReadOnly())
			},
		} {
			b, err := open()
			if err != nil {
				t.Fatalf("read-only open of a closed WAL database on a read-only mount: %v", err)
			}
			checkReadOnly(t, b, "fixture")
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("immutable", func(t *testing.T) {
		b, err := statebackend.Open(sqlite.Open(path, sqlite.Immutable()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		checkReadOnly(t, b, "fixture")
	})
	t.Run("writable_file_in_read_only_directory", func(t *testing.T) {
		// The file itself bind-mounted read-write over its read-only
		// self: SQLite may write it but not create its -shm beside it.
		if err := syscall.Mount(filepath.Join(src, "state.db"), path, "", syscall.MS_BIND, ""); err != nil {
			t.Skipf("cannot bind-mount a file: %v", err)
		}
		defer func() {
			if err := syscall.Unmount(path, 0); err != nil {
				t.Errorf("unmount %s: %v", path, err)
			}
		}()
		_, err := statebackend.Open(sqlite.Open(path))
		if !errors.Is(err, statebackend.ErrReadOnly) || !strings.Contains(err.Error(), "directory "+dst) {
			t.Fatalf("open of a writable file in a read-only directory: %v, want ErrReadOnly naming the directory", err)
		}
		t.Log(err)
	})
	t.Run("read_only_with_running_writer", func(t *testing.T) {
		writer, err := statebackend.Open(sqlite.Open(filepath.Join(src, "state.db")))
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		if err := writer.SetResult(t.Context(), "live", []byte("new")); err != nil {
			t.Fatal(err)
		}
		b, err := statebackend.Open(sqlite.Open(path, sqlite.ReadOnly()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		checkReadOnly(t, b, "fixture")
		if got, err := b.Result(t.Context(), "live"); err != nil || string(got) != "new" {
			t.Errorf("commit still in the -wal file: %q, %v", got, err)
		}
	})
}
