package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/sqlite"
)

// The tests here run the command as a child process, wait until it has
// done part of its work (rows in the target, a file growing, a query
// waiting for a lock), freeze it with SIGSTOP, check that work remains,
// send the signal and let it go on: the command must stop with one line
// on stderr and exit 128 + the signal.

// child is a statebackend command running as a process.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed when it has ended and err is set
	err    error
}

// startCLI starts the statebackend command (the test binary, see TestMain)
// with args.
func startCLI(t *testing.T, args ...string) *child {
	t.Helper()
	bin, err := exec.LookPath("statebackend")
	if err != nil {
		t.Fatalf("the statebackend command is not on PATH (set up by TestMain): %v", err)
	}
	c := &child{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitUntil polls cond until it holds; it fails t after a minute, or when
// the process ends first.
func (c *child) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case <-c.done:
			t.Fatalf("the command ended (%v) before %s; stderr:\n%s", c.err, what, c.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
	}
}

// interrupt freezes the process, checks with unfinished that it still has
// work to do, sends sig and lets it go on; it returns the exit code and
// stderr.
func (c *child) interrupt(t *testing.T, sig syscall.Signal, unfinished func() bool) (int, string) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v (had the command ended? give it more work)", err)
	}
	if !unfinished() {
		_ = c.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal("the command had done all its work before it was frozen: give it more")
	}
	for _, s := range []syscall.Signal{sig, syscall.SIGCONT} {
		if err := c.cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
	}
	<-c.done
	var exit *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exit) {
		t.Fatal(c.err)
	}
	return c.cmd.ProcessState.ExitCode(), c.stderr.String()
}

// singleLine checks that stderr is exactly one line matching pattern and
// returns its submatches.
func singleLine(t *testing.T, stderr, pattern string) []string {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Fatalf("stderr is not one line:\n%s", stderr)
	}
	m := regexp.MustCompile(pattern).FindStringSubmatch(strings.TrimSuffix(stderr, "\n"))
	if m == nil {
		t.Fatalf("stderr\n  %s\ndoes not match\n  %s", stderr, pattern)
	}
	return m
}

// sqliteRows counts the rows of a table of a SQLite file another process
// writes, or returns -1 while the table is not there.
func sqliteRows(t *testing.T, path, table string) int64 {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// TestCopyInterrupted interrupts a copy with SIGINT and with SIGTERM in the
// middle of the invocations: exit 130 or 143, one line saying that a rerun
// resumes, and the rerun completes the copy writing only what was missing.
func TestCopyInterrupted(t *testing.T) {
	t.Parallel()
	const n = 1500
	src := seedSQLite(t, "shop", n)
	tables, _ := entities.NewTables("shop", 0)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(signalName(sig), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "dst.db")
			dst := "sqlite:" + path
			c := startCLI(t, "--app", "shop", "copy", "--from", src, "--to", dst, "--batch", "50")
			c.waitUntil(t, "invocations in the target", func() bool {
				return sqliteRows(t, path, tables.Name("Invocation")) >= 100
			})
			code, errText := c.interrupt(t, sig, func() bool {
				return sqliteRows(t, path, tables.Name("History")) < 4*n
			})
			if code != 128+int(sig) {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, 128+int(sig), errText)
			}
			singleLine(t, errText, `^statebackend: copy interrupted by `+signalName(sig)+`: what it copied so far is committed, not yet verified; `+
				`run the same copy again to resume: it writes only what the target lacks, then verifies$`)

			out := runCLI(t, "--app", "shop", "copy", "--from", src, "--to", dst, "--batch", "50", "-o", "json")
			var rep copyReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Verified {
				t.Fatalf("rerun: %v %s", err, out)
			}
			var written, rows int64
			for _, tb := range rep.Tables {
				written += tb.Written
				rows += tb.Rows
			}
			if written == 0 || written >= rows {
				t.Errorf("the rerun wrote %d of %d rows: it should write only what the interrupted copy had not", written, rows)
			}
			assertSameState(t, openURL(t, src, "shop"), openURL(t, dst, "shop"), dataKeys)
		})
	}
}

// TestPruneInterrupted interrupts a prune of small batches with SIGTERM:
// exit 143, one line saying how much was deleted, which is what is gone,
// and a rerun deletes the rest.
func TestPruneInterrupted(t *testing.T) {
	t.Parallel()
	const n = 500 // 100 workflow runs of 5 invocations
	db := seedSQLite(t, "shop", n)
	path := strings.TrimPrefix(db, "sqlite:")
	tables, _ := entities.NewTables("shop", 0)
	table := tables.Name("Invocation")

	c := startCLI(t, "--db", db, "--app", "shop", "prune", "--older-than", "1h", "--batch", "5")
	c.waitUntil(t, "invocations deleted", func() bool { return sqliteRows(t, path, table) <= n-50 })
	code, errText := c.interrupt(t, syscall.SIGTERM, func() bool { return sqliteRows(t, path, table) > 0 })
	if code != 143 {
		t.Errorf("exit code %d, want 143; stderr:\n%s", code, errText)
	}
	m := singleLine(t, errText, `^statebackend: prune interrupted by SIGTERM: the (\d+) workflow runs \((\d+) invocations\) deleted in (\d+) batches before it stopped stay deleted; run it again to continue$`)
	reported, _ := strconv.ParseInt(m[2], 10, 64)
	left := sqliteRows(t, path, table)
	if reported != n-left {
		t.Errorf("prune reported %d invocations deleted; %d are gone", reported, n-left)
	}

	out := runCLI(t, "--db", db, "--app", "shop", "prune", "--older-than", "1h", "-o", "json")
	var st pruneStats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Invocations != left || sqliteRows(t, path, table) != 0 {
		t.Errorf("the rerun deleted %d invocations of the %d left; %d remain", st.Invocations, left, sqliteRows(t, path, table))
	}
}

// TestHistoryInterrupted interrupts history --out with SIGINT: the file
// holds whole records, the line says how many and from when to continue,
// and continuing from there gives the rest.
func TestHistoryInterrupted(t *testing.T) {
	t.Parallel()
	const n = 500
	db := seedSQLite(t, "shop", n)
	out := filepath.Join(t.TempDir(), "history.jsonl")
	lines := func() int {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n"))
	}
	c := startCLI(t, "--db", db, "--app", "shop", "history", "--batch", "10", "--out", out)
	c.waitUntil(t, "records in the file", func() bool { return lines() > 0 })
	code, errText := c.interrupt(t, syscall.SIGINT, func() bool { return lines() < 4*n })
	if code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, errText)
	}
	m := singleLine(t, errText, `^statebackend: history interrupted by SIGINT: `+regexp.QuoteMeta(out)+
		` holds the first (\d+) records, whole, up to (\S+); to continue, run it again with --from '(\S+)' \(the records at that time come again\)$`)

	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var last struct {
		Timestamp string `json:"_timestamp"`
	}
	sc := bufio.NewScanner(bytes.NewReader(got))
	records := 0
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("record %d is not whole: %v: %s", records+1, err, sc.Text())
		}
		records++
	}
	if m[1] != strconv.Itoa(records) || m[2] != last.Timestamp || m[3] != last.Timestamp {
		t.Errorf("the line says %s records up to %s; the file has %d up to %s", m[1], m[2], records, last.Timestamp)
	}
	all := runCLI(t, "--db", db, "--app", "shop", "history")
	rest := runCLI(t, "--db", db, "--app", "shop", "history", "--from", m[3])
	if !strings.HasPrefix(all, string(got)) || !strings.HasSuffix(all, rest) || len(got)+len(rest) < len(all) {
		t.Errorf("the file (%d bytes) and the rest from --from %s (%d bytes) do not make the whole history (%d bytes)",
			len(got), m[3], len(rest), len(all))
	}
}

// TestMigrateInterruptedOnPostgres interrupts a migration from version 1
// to 2 on Postgres while its CREATE INDEX waits for a writer's open
// transaction: exit 130, one line saying the migration under way was
// rolled back; version 1 stays recorded and a rerun finishes.
func TestMigrateInterruptedOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	app := uniqueApp("mig")
	u, err := parseDBURL("--db", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := gorm.Open(u.dialector(), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer closeGorm(db)
	if err := schematest.CreateVersion1(db, schematest.Postgres, app, false); err != nil {
		t.Fatal(err)
	}
	tables, err := entities.NewTables(app, schematest.Postgres.MaxIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	// A writer's open transaction on the tables migration 2 indexes.
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	writer, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Rollback() }()
	indexed := []string{tables.Name("Invocation"), tables.Name("Workflow"), tables.Name("History")}
	for _, name := range indexed {
		if _, err := writer.Exec(`LOCK TABLE "` + name + `" IN ROW EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}

	c := startCLI(t, "--db", dsn, "--app", app, "migrate")
	waiting := func() bool {
		var n int
		err := sqlDB.QueryRow(`SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE NOT l.granted AND c.relname IN ($1, $2, $3)`, indexed[0], indexed[1], indexed[2]).Scan(&n)
		return err == nil && n > 0
	}
	c.waitUntil(t, "a migration waiting for the writer", waiting)
	code, errText := c.interrupt(t, syscall.SIGINT, waiting)
	if code != 130 {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, errText)
	}
	singleLine(t, errText, `^statebackend: migrate interrupted by SIGINT: Postgres runs each migration in one transaction, `+
		`so the one under way was rolled back and those before it stay applied; run migrate again to finish$`)

	m, err := (&cli{}).openMigrator(u, app, readExisting)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if st, err := m.Status(ctx); err != nil || st.Version != 1 || !st.Recorded {
		t.Fatalf("after the interrupt: schema %+v, %v; want version 1, recorded", st, err)
	}
	if err := writer.Rollback(); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "--db", dsn, "--app", app, "migrate")
	latest := migrations.Latest()
	if !strings.HasPrefix(out, "migrated app "+strconv.Quote(app)+" from 1 to "+strconv.Itoa(latest)+":") {
		t.Errorf("rerun: %s", out)
	}
	if st, err := m.Status(ctx); err != nil || st.Version != latest {
		t.Errorf("after the rerun: schema version %d, %v; want version %d", st.Version, err, latest)
	}
}
