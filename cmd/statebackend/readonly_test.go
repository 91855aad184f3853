package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/sqlite"
)

// readCommands are the commands that only read the database db (a URL),
// on the app "shop" of the test dataset. copy writes its target, and
// history its output, into out.
func readCommands(db, out string) [][]string {
	return [][]string{
		{"--db", db, "status"},
		{"--db", db, "--app", "shop", "status"},
		{"--db", db, "--app", "shop", "schema"},
		{"--db", db, "--app", "shop", "inspect", invID(1), "--full"},
		{"--db", db, "--app", "shop", "workflows"},
		{"--db", db, "--app", "shop", "status", "--by-task", "-o", "json"},
		{"--db", db, "--app", "shop", "invocations", "--status", "success,failed", "--limit", "3"},
		{"--db", db, "--app", "shop", "invocations", "--task", "reports.build", "--since", "3650d", "--json"},
		{"--db", db, "--app", "shop", "invocations", "--status", "running", "--stuck", "1h"},
		{"--db", db, "--app", "shop", "history", "--out", filepath.Join(out, "history.jsonl")},
		{"--db", db, "--app", "shop", "watch"},
		{"--db", db, "--app", "shop", "watch", "--from", "now", "--kind", "history", "--status", "failed"},
		{"--app", "shop", "copy", "--from", db, "--to", "sqlite:" + filepath.Join(out, "copy.db")},
		{"--db", db, "--app", "shop", "migrate", "--dry-run"},
		{"--db", db, "--app", "shop", "prune", "--older-than", "1h", "--dry-run"},
		{"version"},
	}
}

// TestReadCommandsChangeNothing runs every read command on a SQLite file
// and checks that the file and its directory are as they were, byte for
// byte: on a WAL database no process has open (as the library leaves it),
// on one in rollback-journal mode (which must stay in that mode), and on a
// WAL database a writer has open (its -wal file, holding a commit not yet
// in the database file, is read and left alone; its -shm file is shared
// memory, which readers write by design).
func TestReadCommandsChangeNothing(t *testing.T) {
	t.Parallel()
	bin := commandPath(t)
	for _, c := range []struct {
		name string
		// prepare makes the database at path what the case needs; it
		// returns the files whose content may change.
		prepare func(t *testing.T, path string) (mayChange []string)
	}{
		{"wal_closed", func(*testing.T, string) []string { return nil }},
		{"rollback_journal", func(t *testing.T, path string) []string {
			setJournalMode(t, path, "delete")
			return nil
		}},
		{"wal_open_by_a_writer", func(t *testing.T, path string) []string {
			w, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Close() })
			if err := w.SetResult(t.Context(), statebackend.InvocationID(invID(1)), []byte(`"live"`)); err != nil {
				t.Fatal(err)
			}
			return []string{filepath.Base(path) + "-shm"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, out := t.TempDir(), t.TempDir()
			path := filepath.Join(dir, "state.db")
			seedFile(t, path)
			mayChange := c.prepare(t, path)
			for _, args := range readCommands("sqlite:"+path, out) {
				before := dirDigest(t, dir, mayChange...)
				if _, stderr, code := runProcess(t, bin, nil, args...); code != 0 {
					t.Fatalf("statebackend %s: exit %d: %s", strings.Join(args, " "), code, stderr)
				}
				if after := dirDigest(t, dir, mayChange...); !slices.Equal(after, before) {
					t.Errorf("statebackend %s changed %s:\n%s\nwas\n%s", strings.Join(args, " "), dir,
						strings.Join(after, "\n"), strings.Join(before, "\n"))
				}
			}
			if c.name == "rollback_journal" {
				if mode := journalMode(t, path); mode != "delete" {
					t.Errorf("journal mode after the read commands: %s, want delete", mode)
				}
			}
		})
	}
}

// seedFile writes the test dataset (app "shop", 10 invocations) into a
// new SQLite file at path and closes it: a WAL database with no -wal or
// -shm file.
func seedFile(t *testing.T, path string) {
	t.Helper()
	b, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := seed(t.Context(), b, "shop", 10); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// setJournalMode switches the SQLite file at path to mode with plain
// SQLite, as another program would.
func setJournalMode(t *testing.T, path, mode string) {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRowContext(context.Background(), "PRAGMA journal_mode = "+mode).Scan(&got); err != nil || got != mode {
		t.Fatalf("journal mode %s: %q, %v", mode, got, err)
	}
}

// journalMode reads the journal mode of the SQLite file at path without
// changing it.
func journalMode(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

// dirDigest lists the files of dir, each with the SHA-256 of its content
// unless it is among names (then with its name only), sorted.
func dirDigest(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if slices.Contains(names, e.Name()) {
			out = append(out, e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out = append(out, e.Name()+" "+hex.EncodeToString(sum[:]))
	}
	return out
}

// commandPath returns the path of the statebackend command that TestMain
// puts on the PATH.
func commandPath(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("statebackend")
	if err != nil {
		t.Fatalf("the statebackend command is not on PATH (set up by TestMain): %v", err)
	}
	return bin
}

// runProcess runs the command bin with args as a process, with the
// credential cred when not nil, and returns its output and exit code.
func runProcess(t *testing.T, bin string, cred *credential, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), dbEnv+"=")
	cmd.Dir = filepath.Dir(bin)
	setCredential(cmd, cred)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return out.String(), errOut.String(), code
}
