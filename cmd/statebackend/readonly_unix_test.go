//go:build unix

package main

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// credential is a user to run a process as.
type credential = syscall.Credential

// setCredential makes cmd run as cred, when not nil.
func setCredential(cmd *exec.Cmd, cred *credential) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
}

// TestReadCommandsAsAnotherUser runs every read command as an unprivileged
// user (nobody) on SQLite files it may not write: a file without write
// permission (0444), another user's file (0644, owned by root), and a
// database in rollback-journal mode, each in a directory the user may not
// write. Each command works and leaves the file and its directory as they
// were. A command that writes fails, saying the file cannot be written and
// what to do, in the command's terms.
func TestReadCommandsAsAnotherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("running the command as another user needs root (the test runs as uid " + strconv.Itoa(os.Geteuid()) + ")")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no unprivileged user to run the command as: %v", err)
	}
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, _ := strconv.ParseUint(nobody.Gid, 10, 32)
	cred := &credential{Uid: uint32(uid), Gid: uint32(gid)}

	// Directories every user may enter: the databases' (which nobody may
	// not write), the command's, and one nobody may write for the
	// commands' output.
	root := publicDir(t, 0o755)
	bin := filepath.Join(root, "statebackend")
	copyFile(t, commandPath(t), bin, 0o755)
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"no_write_permission", func(t *testing.T, path string) { chmod(t, path, 0o444) }},
		{"another_users_file", func(t *testing.T, path string) { chmod(t, path, 0o644) }},
		{"rollback_journal", func(t *testing.T, path string) {
			setJournalMode(t, path, "delete")
			chmod(t, path, 0o444)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(root, c.name)
			out := filepath.Join(root, c.name+"-out")
			mkdir(t, dir, 0o755)
			mkdir(t, out, 0o777)
			path := filepath.Join(dir, "state.db")
			seedFile(t, path)
			c.prepare(t, path)
			for _, args := range readCommands("sqlite:"+path, out) {
				before := dirDigest(t, dir)
				if _, stderr, code := runProcess(t, bin, cred, args...); code != 0 {
					t.Fatalf("statebackend %s as nobody: exit %d: %s", strings.Join(args, " "), code, stderr)
				}
				if after := dirDigest(t, dir); !slices.Equal(after, before) {
					t.Errorf("statebackend %s as nobody changed %s:\n%s\nwas\n%s", strings.Join(args, " "), dir,
						strings.Join(after, "\n"), strings.Join(before, "\n"))
				}
			}
			before := dirDigest(t, dir)
			for _, args := range [][]string{
				{"--db", "sqlite:" + path, "--app", "shop", "purge", "--yes"},
				{"--db", "sqlite:" + path, "--app", "shop", "prune", "--older-than", "1h"},
				{"--db", "sqlite:" + path, "--app", "shop", "migrate"},
				{"--app", "shop", "copy", "--from", "sqlite:" + filepath.Join(out, "copy.db"), "--to", "sqlite:" + path},
			} {
				_, stderr, code := runProcess(t, bin, cred, args...)
				if code != 1 || !strings.Contains(stderr, "cannot open "+path+" for writing (permission denied)") ||
					!strings.Contains(stderr, "run it as a user who may write the file") {
					t.Errorf("statebackend %s as nobody: exit %d: %s, want exit 1 saying the file cannot be written and what to do",
						strings.Join(args, " "), code, stderr)
				}
				for _, not := range []string{"sqlite.", "credentials", "server"} {
					if strings.Contains(stderr, not) {
						t.Errorf("statebackend %s as nobody: %q mentions %q", strings.Join(args, " "), stderr, not)
					}
				}
			}
			if c.name == "another_users_file" {
				// Following a WAL database no process has open needs its
				// -wal and -shm files, which nobody may not create.
				args := []string{"--db", "sqlite:" + path, "--app", "shop", "watch", "--follow"}
				_, stderr, code := runProcess(t, bin, cred, args...)
				if code != 1 || !strings.HasPrefix(stderr, "statebackend: cannot follow "+path+" (permission denied): ") ||
					!strings.Contains(stderr, "watch without --follow reads the file as it is") {
					t.Errorf("statebackend %s as nobody: exit %d: %s, want exit 1 saying why the file cannot be followed",
						strings.Join(args, " "), code, stderr)
				}
			}
			if after := dirDigest(t, dir); !slices.Equal(after, before) {
				t.Errorf("refused writes changed %s", dir)
			}
		})
	}
}

// publicDir returns a new directory with mode perm whose parents every
// user may enter; it is removed when t ends.
func publicDir(t *testing.T, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "statebackend-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	chmod(t, dir, perm)
	return dir
}

func mkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	chmod(t, dir, perm) // whatever the umask
}

func chmod(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies the file src to dst, with mode perm.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
