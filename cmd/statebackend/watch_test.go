package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/internal/poll"
	"github.com/taskstate/statebackend/sqlite"
	"github.com/taskstate/statebackend/state"
)

// watchLine is one line watch printed, decoded, with the keys it has.
type watchLine struct {
	watchedChange
	keys []string
	raw  string
}

// parseWatch decodes the lines of out, each a JSON object.
func parseWatch(t *testing.T, out string) []watchLine {
	t.Helper()
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the output does not end with a whole line: %q", out)
	}
	var lines []watchLine
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		var w watchLine
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &fields); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		for k := range fields {
			w.keys = append(w.keys, k)
		}
		slices.Sort(w.keys)
		if err := json.Unmarshal([]byte(l), &w.watchedChange); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		w.raw = l
		lines = append(lines, w)
	}
	return lines
}

// cursorsOf returns the cursors of lines.
func cursorsOf(lines []watchLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Cursor
	}
	return out
}

// runCode runs the command in this process and returns its output and
// exit code.
func runCode(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut, func(string) string { return "" })
	return out.String(), errOut.String(), code
}

// TestWatchPrintsEveryChange prints the changes of the test dataset and
// checks each line against what the library stores: every history record,
// result, exception and workflow run once, in the order of their cursors,
// with the fields the kind has and no other.
func TestWatchPrintsEveryChange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	seedFile(t, path)
	before := dirDigest(t, dir)
	db := "sqlite:" + path
	out := runCLI(t, "--db", db, "--app", "shop", "watch")
	lines := parseWatch(t, out)
	if same := runCLI(t, "--db", db, "--app", "shop", "-o", "json", "watch"); same != out {
		t.Errorf("-o json changed the output:\n%s\nwas\n%s", same, out)
	}
	if after := dirDigest(t, dir); !slices.Equal(after, before) {
		t.Errorf("watch changed %s:\n%s\nwas\n%s", dir, strings.Join(after, "\n"), strings.Join(before, "\n"))
	}

	b, err := statebackend.Open(sqlite.Open(path, sqlite.ReadOnly()), statebackend.WithAppID("shop"), statebackend.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// What the dataset holds: each invocation's history in order, its
	// result or exception, the workflow runs.
	wantHistory := map[string][]string{}
	kinds := map[string]int{}
	for i := range 10 {
		id := statebackend.InvocationID(invID(i))
		hist, err := b.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			wantHistory[string(id)] = append(wantHistory[string(id)], string(h.StatusRecord.Status)+" "+state.FormatTimestamp(h.Timestamp))
		}
		if i%5 == 2 {
			kinds["exception"]++
		} else {
			kinds["result"]++
		}
		kinds["history"] += len(hist)
	}
	runs, err := b.WorkflowRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds["workflow_run"] = len(runs)

	gotHistory := map[string][]string{}
	gotKinds := map[string]int{}
	for i, l := range lines {
		gotKinds[l.Kind]++
		if i > 0 && !cursorBefore(lines[i-1].Cursor, l.Cursor) {
			t.Errorf("line %d: cursor %s does not follow %s", i, l.Cursor, lines[i-1].Cursor)
		}
		wantKeys := []string{"cursor", "invocation_id", "kind", "task", "workflow_id"}
		if l.Kind == "history" {
			wantKeys = []string{"cursor", "invocation_id", "kind", "status", "task", "timestamp", "workflow_id"}
			gotHistory[l.InvocationID] = append(gotHistory[l.InvocationID], l.Status+" "+l.Timestamp)
			if _, err := time.Parse(time.RFC3339Nano, l.Timestamp); err != nil || !utcMicros.MatchString(l.Timestamp) {
				t.Errorf("line %q: timestamp not RFC 3339 in UTC to the microsecond: %v", l.raw, err)
			}
		}
		if !slices.Equal(l.keys, wantKeys) {
			t.Errorf("line %q: keys %v, want %v", l.raw, l.keys, wantKeys)
		}
		if l.Kind == "workflow_run" {
			if l.WorkflowID != l.InvocationID {
				t.Errorf("line %q: a workflow run's workflow_id is its own id", l.raw)
			}
			continue
		}
		inv, err := b.Invocation(ctx, statebackend.InvocationID(l.InvocationID))
		if err != nil {
			t.Fatalf("line %q: %v", l.raw, err)
		}
		if l.Task != inv.CallID.Task.Key() || l.WorkflowID != string(inv.Workflow.WorkflowID) {
			t.Errorf("line %q: task %q and workflow %q, want %q and %q", l.raw, l.Task, l.WorkflowID, inv.CallID.Task.Key(), inv.Workflow.WorkflowID)
		}
	}
	if fmt.Sprint(gotKinds) != fmt.Sprint(kinds) {
		t.Errorf("changes by kind: %v, want %v", gotKinds, kinds)
	}
	if fmt.Sprint(gotHistory) != fmt.Sprint(wantHistory) {
		t.Errorf("history records by invocation:\n%v\nwant\n%v", gotHistory, wantHistory)
	}
}

// utcMicros matches a time as the commands print it: in UTC, with six
// fraction digits, or none when they are all zero.
var utcMicros = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

// cursorBefore reports whether the cursor a comes before b: both are the
// Store's, "c1." and the change's id.
func cursorBefore(a, b string) bool {
	var x, y int64
	if _, err := fmt.Sscanf(a, "c1.%d", &x); err != nil {
		return false
	}
	if _, err := fmt.Sscanf(b, "c1.%d", &y); err != nil {
		return false
	}
	return x < y
}

// TestWatchFrom resumes after cursors of the whole output and of a
// filtered one: each run prints exactly the lines after the cursor, and
// --from now prints only what commits after it starts.
func TestWatchFrom(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	db := "sqlite:" + path
	all := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch"))
	history := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch", "--kind", "history", "--task", "reports.build"))
	if len(all) < 50 || len(history) != 8 {
		t.Fatalf("%d changes, %d history records of reports.build; the dataset has more than 50 and 8", len(all), len(history))
	}
	for _, c := range []struct {
		name   string
		lines  []watchLine
		filter []string
	}{
		{"all", all, nil},
		{"filtered", history, []string{"--kind", "history", "--task", "reports.build"}},
	} {
		for _, k := range []int{0, 1, len(c.lines) / 2, len(c.lines) - 2, len(c.lines) - 1} {
			args := append([]string{"--db", db, "--app", "shop", "watch", "--from", c.lines[k].Cursor}, c.filter...)
			got := cursorsOf(parseWatch(t, runCLI(t, args...)))
			if want := cursorsOf(c.lines[k+1:]); !slices.Equal(got, want) {
				t.Errorf("%s --from %s (line %d): %v, want %v", c.name, c.lines[k].Cursor, k, got, want)
			}
		}
	}
	// An empty --from is the oldest change kept, as none.
	if got := cursorsOf(parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch", "--from", ""))); !slices.Equal(got, cursorsOf(all)) {
		t.Errorf("--from '': %v, want every change", got)
	}
	if out := runCLI(t, "--db", db, "--app", "shop", "watch", "--from", "now"); out != "" {
		t.Errorf("--from now printed changes committed before it:\n%s", out)
	}

	// A change after the last: what --from the last cursor prints.
	w, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetResult(t.Context(), statebackend.InvocationID(invID(3)), []byte(`"again"`)); err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1].Cursor
	got := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch", "--from", last))
	if len(got) != 1 || got[0].Kind != "result" || got[0].InvocationID != invID(3) || !cursorBefore(last, got[0].Cursor) {
		t.Errorf("--from the last cursor after a result was stored: %v", got)
	}
}

// TestWatchFilters checks each filter flag against the lines of the whole
// output it selects.
func TestWatchFilters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	db := "sqlite:" + path
	all := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch"))
	for _, c := range []struct {
		args []string
		keep func(watchLine) bool
	}{
		{[]string{"--kind", "result,exception"}, func(l watchLine) bool { return l.Kind == "result" || l.Kind == "exception" }},
		{[]string{"--kind", "workflow_run", "--kind", "EXCEPTION"}, func(l watchLine) bool { return l.Kind == "workflow_run" || l.Kind == "exception" }},
		{[]string{"--status", "failed"}, func(l watchLine) bool { return l.Status == "failed" }},
		{[]string{"--kind", "history", "--status", "registered,Success"}, func(l watchLine) bool {
			return l.Status == "registered" || l.Status == "success"
		}},
		{[]string{"--invocation", invID(3) + "," + invID(4)}, func(l watchLine) bool {
			return l.InvocationID == invID(3) || l.InvocationID == invID(4)
		}},
		{[]string{"--task", "reports.build"}, func(l watchLine) bool { return l.Task == "reports.build" }},
		{[]string{"--workflow", invID(5)}, func(l watchLine) bool { return l.WorkflowID == invID(5) }},
		{[]string{"--workflow", invID(0), "--kind", "result", "--task", "reports.sources.fetch"}, func(l watchLine) bool {
			return l.WorkflowID == invID(0) && l.Kind == "result" && l.Task == "reports.sources.fetch"
		}},
		{[]string{"--invocation", "inv-nope"}, func(watchLine) bool { return false }},
	} {
		var want []string
		for _, l := range all {
			if c.keep(l) {
				want = append(want, l.Cursor)
			}
		}
		args := append([]string{"--db", db, "--app", "shop", "watch"}, c.args...)
		if got := cursorsOf(parseWatch(t, runCLI(t, args...))); !slices.Equal(got, want) {
			t.Errorf("watch %s: %v, want %v", strings.Join(c.args, " "), got, want)
		}
	}
}

// TestWatchBadFlags checks that a bad flag value is a usage error, one
// line on stderr naming the flag, with nothing printed.
func TestWatchBadFlags(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	db := "sqlite:" + path
	for _, c := range []struct {
		args    []string
		message string
	}{
		{[]string{"--kind", "bogus"}, `^statebackend: --kind "bogus": not a kind of change; use one of history, result, exception, workflow_run$`},
		{[]string{"--kind", "history,workflow-run"}, `^statebackend: --kind "workflow-run": not a kind of change`},
		{[]string{"--status", "done"}, `^statebackend: --status "done": not a status; use one of registered, .*, retry$`},
		{[]string{"--status", "failed", "--kind", "result"}, `^statebackend: --status selects history records, and --kind leaves them out`},
		{[]string{"--task", "build"}, `^statebackend: --task "build": a task key is module.function, such as reports.build$`},
		{[]string{"--invocation", "a,,b", "--invocation", strings.Repeat("x", 300)}, `^statebackend: --invocation "x{64}\.\.\.": give an invocation id \(this one is longer than 255 bytes \(300\)\)$`},
		{[]string{"--workflow", ""}, `^statebackend: --workflow "": give a workflow id`},
		{[]string{"--poll", "0"}, `^statebackend: --poll "0": give a positive duration`},
		{[]string{"--poll", "1mo"}, `^statebackend: --poll "1mo": there is no month unit`},
		{[]string{"--poll", "2h", "--follow"}, `^statebackend: --poll 2h: give an interval from 1ms to 1h$`},
		{[]string{"--poll", "500us"}, `^statebackend: --poll 500us: give an interval from 1ms to 1h$`},
		{[]string{"--from", "garbage"}, `^statebackend: --from "garbage": not a cursor of the changes of this database; give the cursor of the last line processed$`},
		{[]string{"--from", "c1.0", "--follow"}, `^statebackend: --from "c1.0": not a cursor of the changes of this database`},
		{[]string{"--from", strings.Repeat("c", 1025)}, `^statebackend: --from: not a cursor watch printed \(1025 bytes\): give the cursor of the last line processed$`},
		{[]string{"--follow=maybe"}, `^statebackend: invalid argument "maybe" for "-f, --follow" flag: .*; run 'statebackend watch --help' for the flags$`},
		{[]string{"extra"}, `^statebackend: statebackend watch takes no arguments, got \["extra"\]$`},
	} {
		args := append([]string{"--db", db, "--app", "shop", "watch"}, c.args...)
		stdout, stderr, code := runCode(t.Context(), args...)
		if code != exitUsage || stdout != "" {
			t.Errorf("watch %s: exit %d, stdout %q; want exit 2 and nothing printed", strings.Join(c.args, " "), code, stdout)
		}
		if strings.Count(stderr, "\n") != 1 || !regexp.MustCompile(c.message).MatchString(strings.TrimSuffix(stderr, "\n")) {
			t.Errorf("watch %s: stderr\n  %s\ndoes not match\n  %s", strings.Join(c.args, " "), stderr, c.message)
		}
	}
}

// TestWatchReadOnlyFile watches a SQLite file nobody may write (0444):
// every change is printed, and the file and its directory are left as
// they were.
func TestWatchReadOnlyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	seedFile(t, path)
	db := "sqlite:" + path
	want := runCLI(t, "--db", db, "--app", "shop", "watch")
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	stdout, stderr, code := runProcess(t, commandPath(t), nil, "--db", db, "--app", "shop", "watch")
	if code != 0 || stdout != want {
		t.Errorf("watch on a 0444 file: exit %d (%s), printed\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	stdout, _, code = runProcess(t, commandPath(t), nil, "--db", db, "--app", "shop", "watch", "--from", "now", "--kind", "history")
	if code != 0 || stdout != "" {
		t.Errorf("watch --from now on a 0444 file: exit %d, printed %q", code, stdout)
	}
	if after := dirDigest(t, dir); !slices.Equal(after, before) {
		t.Errorf("watch changed %s:\n%s\nwas\n%s", dir, strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}

// TestWatchExpiredCursor prunes the changes after a cursor through the
// library: watch --from it fails with one line saying they were pruned and
// how to restart, and watch without --from works.
func TestWatchExpiredCursor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	db := "sqlite:" + path
	all := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch"))
	seeded := time.Now()
	cursor := all[2].Cursor

	b, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Every change was recorded before seeded: once the clock has passed
	// seeded by the retention, a prune expires them.
	const retention = time.Millisecond
	if err := poll.Until(ctx, "the changes are older than the retention", func(context.Context) error {
		if time.Since(seeded) <= 2*retention {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stats, err := b.Prune(ctx, statebackend.PruneOptions{OlderThan: retention})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Changes != int64(len(all)) {
		t.Fatalf("the prune expired %d changes, want all %d", stats.Changes, len(all))
	}
	for _, args := range [][]string{
		{"--db", db, "--app", "shop", "watch", "--from", cursor},
		{"--db", db, "--app", "shop", "watch", "--from", cursor, "--follow", "--kind", "result"},
	} {
		stdout, stderr, code := runCode(ctx, args...)
		if code != exitFailure || stdout != "" {
			t.Errorf("watch %s: exit %d, printed %q; want exit 1 and nothing printed", strings.Join(args[4:], " "), code, stdout)
		}
		singleLine(t, stderr, `^statebackend: the changes after cursor `+regexp.QuoteMeta(cursor)+` were pruned \(retention deleted them\) before watch read them, `+
			`so a watch from there would miss some \(change cursor expired\); to restart, run watch without --from: it starts at the oldest change kept$`)
	}
	if out := runCLI(t, "--db", db, "--app", "shop", "watch"); out != "" {
		t.Errorf("watch without --from after every change was pruned printed:\n%s", out)
	}
	// Changes after the prune come from the oldest kept.
	if err := b.SetResult(ctx, statebackend.InvocationID(invID(1)), []byte(`"new"`)); err != nil {
		t.Fatal(err)
	}
	got := parseWatch(t, runCLI(t, "--db", db, "--app", "shop", "watch"))
	if len(got) != 1 || got[0].InvocationID != invID(1) || got[0].Kind != "result" {
		t.Errorf("watch after a prune and a new result: %v", got)
	}
}

// TestWatchOldSchema watches an app created by v0.1.0, which has no table
// of changes: one line naming migrate, and the file unchanged.
func TestWatchOldSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v1.db")
	if err := loadSQL(path, filepath.Join("..", "..", "internal", "schematest", "testdata", "v0.1.0", "sqlite_default.sql")); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	stdout, stderr, code := runCode(t.Context(), "--db", "sqlite:"+path, "watch")
	if code != exitFailure || stdout != "" {
		t.Errorf("watch on a v0.1.0 schema: exit %d, printed %q", code, stdout)
	}
	singleLine(t, stderr, `^statebackend: the default app in sqlite:\S+ has no change feed: its schema predates the table of changes \(version 4\) that watch reads; run statebackend migrate`)
	if after := dirDigest(t, dir); !slices.Equal(after, before) {
		t.Errorf("watch changed %s", dir)
	}
}

// follower is watch --follow running as a process, its output read line
// by line as it comes.
type follower struct {
	*child
	mu    sync.Mutex
	lines []string
	tail  string        // what came after the last newline
	eof   chan struct{} // closed when the output has ended
}

// startFollow starts the command with args, its stdout a pipe this
// process reads.
func startFollow(t *testing.T, args ...string) *follower {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(commandPath(t), args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), dbEnv+"=")
	c.cmd.Stdout = w
	c.cmd.Stderr = &c.stderr
	err = c.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
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
	f := &follower{child: c, eof: make(chan struct{})}
	go func() {
		defer close(f.eof)
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			f.mu.Lock()
			if err == nil {
				f.lines = append(f.lines, line)
			} else {
				f.tail = line
			}
			f.mu.Unlock()
			if err != nil {
				if err != io.EOF {
					f.tail += "(" + err.Error() + ")"
				}
				return
			}
		}
	}()
	return f
}

// output returns the whole lines read so far.
func (f *follower) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.lines, "")
}

// waitLines waits until n whole lines have come and returns them; the
// process must still run (it has not ended for want of lines).
func (f *follower) waitLines(t *testing.T, n int) []watchLine {
	t.Helper()
	f.waitUntil(t, fmt.Sprintf("%d lines of output", n), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.lines) >= n
	})
	return parseWatch(t, f.output())
}

// stop sends sig and returns the exit code and stderr, once the output
// has ended.
func (f *follower) stop(t *testing.T, sig syscall.Signal) (int, string) {
	t.Helper()
	if err := f.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-f.done
	<-f.eof
	var exit *exec.ExitError
	if f.err != nil && !errors.As(f.err, &exit) {
		t.Fatal(f.err)
	}
	if f.tail != "" {
		t.Errorf("the output ends with a partial line: %q", f.tail)
	}
	return f.cmd.ProcessState.ExitCode(), f.stderr.String()
}

// TestWatchFollow follows a SQLite file no process has open when the
// watch starts (it must see the commits of a writer that opens it later)
// from its last cursor, with a filter: the changes a writer commits while
// it runs come as whole lines, at once (the output is a pipe), and SIGINT
// ends it with one line giving the --from that resumes. Following from
// now prints only what commits after it started, and ends on SIGTERM.
func TestWatchFollow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	seedFile(t, path)
	testWatchFollow(t, "sqlite:"+path, "shop", func(t *testing.T) statebackend.Backend {
		b, err := statebackend.Open(sqlite.Open(path), statebackend.WithAppID("shop"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestWatchOnServers prints, resumes and follows the changes of an app on
// Postgres and on MariaDB.
func TestWatchOnServers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
		{"mysql", func(t *testing.T) string { return mysqlURL(t, mysqltest.DSN(t)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, app := c.url(t), uniqueApp("watch")
			u, err := parseDBURL("--db", db)
			if err != nil {
				t.Fatal(err)
			}
			open := func(t *testing.T) statebackend.Backend {
				b, err := statebackend.Open(u.dialector(), statebackend.WithAppID(app))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				return b
			}
			if err := seed(t.Context(), open(t), app, 10); err != nil {
				t.Fatal(err)
			}
			all := parseWatch(t, runCLI(t, "--db", db, "--app", app, "watch"))
			if len(all) != 54 {
				t.Fatalf("%d changes, want the dataset's 54", len(all))
			}
			for i := 1; i < len(all); i++ {
				if !cursorBefore(all[i-1].Cursor, all[i].Cursor) {
					t.Fatalf("line %d: cursor %s does not follow %s", i, all[i].Cursor, all[i-1].Cursor)
				}
			}
			k := len(all) / 2
			got := cursorsOf(parseWatch(t, runCLI(t, "--db", db, "--app", app, "watch", "--from", all[k].Cursor)))
			if want := cursorsOf(all[k+1:]); !slices.Equal(got, want) {
				t.Errorf("--from %s: %v, want %v", all[k].Cursor, got, want)
			}
			testWatchFollow(t, db, app, open)
		})
	}
}

// testWatchFollow follows the app of the test dataset on db, writing
// through the Backend open returns.
func testWatchFollow(t *testing.T, db, app string, open func(*testing.T) statebackend.Backend) {
	ctx := t.Context()
	all := parseWatch(t, runCLI(t, "--db", db, "--app", app, "watch"))
	last := all[len(all)-1].Cursor
	// Start before the last change the filter selects, so that the first
	// line printed says the watch has opened the database: a SQLite file
	// is then open by the watch only, until the writer opens it.
	filter := []string{"--kind", "history,result", "--invocation", invID(3)}
	first := slices.IndexFunc(all, func(l watchLine) bool { return l.Kind == "result" && l.InvocationID == invID(3) })
	args := append([]string{"--db", db, "--app", app, "watch", "--follow", "--from", all[first-1].Cursor, "--poll", "5ms"}, filter...)
	f := startFollow(t, args...)
	if got := f.waitLines(t, 1); got[0].raw != all[first].raw {
		t.Fatalf("the first line followed: %s, want %s", got[0].raw, all[first].raw)
	}

	w := open(t)
	at := time.Date(2025, 2, 1, 9, 0, 0, 123456000, time.UTC)
	if err := w.AddHistory(ctx, []statebackend.InvocationID{statebackend.InvocationID(invID(3))}, statebackend.InvocationHistory{
		Timestamp: at, RunnerContextID: "runner-1",
		StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusRunning, RunnerID: "runner-1", Timestamp: at},
	}); err != nil {
		t.Fatal(err)
	}
	got := f.waitLines(t, 2)
	want := watchedChange{Kind: "history", InvocationID: invID(3), Task: "reports.sources.fetch", WorkflowID: invID(0),
		Status: "running", Timestamp: "2025-02-01T09:00:00.123456+00:00"}
	if want.Cursor = got[1].Cursor; got[1].watchedChange != want || !cursorBefore(last, got[1].Cursor) {
		t.Errorf("the change followed: %+v, want %+v after %s", got[1].watchedChange, want, last)
	}
	// Filtered out: another invocation, an exception; then one that is not.
	if err := w.SetResult(ctx, statebackend.InvocationID(invID(4)), []byte(`"other"`)); err != nil {
		t.Fatal(err)
	}
	if err := w.SetException(ctx, statebackend.InvocationID(invID(3)), []byte(`{"error_name":"E"}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.SetResult(ctx, statebackend.InvocationID(invID(3)), []byte(`"done"`)); err != nil {
		t.Fatal(err)
	}
	got = f.waitLines(t, 3)
	if len(got) != 3 || got[2].Kind != "result" || got[2].InvocationID != invID(3) || got[2].Status != "" {
		t.Fatalf("followed: %v, want the history record and the result of %s", got, invID(3))
	}
	code, stderr := f.stop(t, syscall.SIGINT)
	if code != 130 {
		t.Errorf("exit code %d after SIGINT, want 130; stderr:\n%s", code, stderr)
	}
	m := singleLine(t, stderr, `^statebackend: watch interrupted by SIGINT: it printed 3 changes, each line whole; `+
		`to resume after the last one, run the same command with --from (\S+)$`)
	if m[1] != got[2].Cursor {
		t.Errorf("the interruption says to resume from %s; the last line printed is %s", m[1], got[2].Cursor)
	}
	if out := f.output(); len(parseWatch(t, out)) != 3 {
		t.Errorf("more output after the lines followed:\n%s", out)
	}
	// Resuming there prints nothing of what came before.
	rest := runCLI(t, append([]string{"--db", db, "--app", app, "watch", "--from", m[1]}, filter...)...)
	if rest != "" {
		t.Errorf("resuming from %s printed:\n%s", m[1], rest)
	}

	// From now: results are stored until one is printed (the first ones
	// may commit before the watch reads the latest change), then one more,
	// which must come too. What is printed is a run of the results stored
	// since the watch started, each once, ending with that last one.
	latest := parseWatch(t, runCLI(t, "--db", db, "--app", app, "watch", "--from", last))
	before := latest[len(latest)-1].Cursor
	f = startFollow(t, "--db", db, "--app", app, "watch", "-f", "--from", "now", "--poll", "5ms", "--kind", "result")
	stored := 0
	store := func() {
		if err := w.SetResult(ctx, statebackend.InvocationID(invID(stored%10)), []byte(fmt.Sprintf(`"now-%d"`, stored))); err != nil {
			t.Fatal(err)
		}
		stored++
	}
	f.waitUntil(t, "a result stored after watch --from now started", func() bool {
		f.mu.Lock()
		n := len(f.lines)
		f.mu.Unlock()
		if n == 0 {
			store()
		}
		return n > 0
	})
	store()
	results := parseWatch(t, runCLI(t, "--db", db, "--app", app, "watch", "--from", before, "--kind", "result"))
	if len(results) != stored {
		t.Fatalf("%d results after %s, want the %d stored", len(results), before, stored)
	}
	printed := f.waitLines(t, 1)
	f.waitUntil(t, "the last result stored", func() bool {
		printed = parseWatch(t, f.output())
		return printed[len(printed)-1].Cursor == results[len(results)-1].Cursor
	})
	code, stderr = f.stop(t, syscall.SIGTERM)
	if code != 143 {
		t.Errorf("exit code %d after SIGTERM, want 143; stderr:\n%s", code, stderr)
	}
	singleLine(t, stderr, `^statebackend: watch interrupted by SIGTERM: it printed (1 change, its line whole|\d+ changes, each line whole); `+
		`to resume after the last one, run the same command with --from `+regexp.QuoteMeta(results[len(results)-1].Cursor)+`$`)
	printed = parseWatch(t, f.output())
	if len(printed) > len(results) {
		t.Fatalf("watch --from now printed %d changes; %d results were stored after it started", len(printed), len(results))
	}
	if want := cursorsOf(results[len(results)-len(printed):]); !slices.Equal(cursorsOf(printed), want) {
		t.Errorf("watch --from now printed %v; the results stored after it started end with %v", cursorsOf(printed), want)
	}
}
