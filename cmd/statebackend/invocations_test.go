package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInvocationsPages walks every page of a listing twice, by the command
// the table prints after each page and by the JSON lines' cursor, and
// checks that each invocation comes exactly once, newest change first, and
// that the database file is unchanged.
func TestInvocationsPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	seedFile(t, path)
	before := dirDigest(t, dir)
	db := "sqlite:" + path
	want := make([]string, 10)
	for i := range want {
		want[i] = invID(9 - i) // the dataset's invocations end in this order
	}

	// By the printed command.
	var got []string
	args := []string{"--db", db, "--app", "shop", "invocations", "--limit", "3", "--since", "3650d"}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("more than 10 pages: %v", got)
		}
		stdout := runCLI(t, args...)
		lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "INVOCATION ") {
			t.Fatalf("page %d: no header:\n%s", pages, stdout)
		}
		var next string
		for _, l := range lines[1:] {
			switch {
			case strings.HasPrefix(l, "next page:"):
				next = strings.TrimSpace(strings.TrimPrefix(l, "next page:"))
			case strings.HasPrefix(l, "inv-"):
				got = append(got, strings.Fields(l)[0])
			}
		}
		if next == "" {
			break
		}
		words := shellSplit(t, next)
		if words[0] != "statebackend" {
			t.Fatalf("next page command %q", next)
		}
		args = words[1:]
		// The relative time is passed on resolved, so every page reads the
		// filter its cursor belongs to.
		if i := slices.Index(args, "--since"); i < 0 || strings.HasSuffix(args[i+1], "d") {
			t.Errorf("next page command %q: --since not resolved to a time", next)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages by the printed command: %v, want %v", got, want)
	}

	// By the JSON lines' cursor.
	got = nil
	var changed []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("more than 10 pages: %v", got)
		}
		args := []string{"--db", db, "--app", "shop", "invocations", "--limit", "4", "--json"}
		if after != "" {
			args = append(args, "--after", after)
		}
		stdout := runCLI(t, args...)
		lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
		for _, l := range lines[:len(lines)-1] {
			var inv listedInvocation
			if err := json.Unmarshal([]byte(l), &inv); err != nil || inv.ID == "" {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, inv.ID)
			changed = append(changed, inv.ChangedAt)
		}
		var last map[string]*string
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
		}
		cursor, ok := last["next_cursor"]
		if !ok || len(last) != 1 {
			t.Fatalf("last line %q: want only next_cursor", lines[len(lines)-1])
		}
		if cursor == nil {
			break
		}
		after = *cursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages by the JSON cursor: %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(changed, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("changed_at not descending: %v", changed)
	}
	if after := dirDigest(t, dir); !slices.Equal(after, before) {
		t.Errorf("the listing changed %s:\n%s\nwas\n%s", dir, strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}

// shellSplit splits a command line as a POSIX shell would the words
// shellQuote writes: plain, or in single quotes (a quote inside closes
// them, is escaped with a backslash and opens them again).
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(ch)
		case ch == '\'':
			quoted, inWord = true, true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"plain", "sqlite:/tmp/a b.db", "it's", "", "a'b'c", "--since", "2025-01-15T12:00:00.000000+00:00"} {
		if got := shellSplit(t, "x "+shellQuote(s)); len(got) != 2 || got[1] != s {
			t.Errorf("shellQuote(%q) = %q, splits to %q", s, shellQuote(s), got)
		}
	}
}

func TestParseAgo(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"now", now},
		{"1h", now.Add(-time.Hour)},
		{"-1h", now.Add(-time.Hour)},
		{"30m", now.Add(-30 * time.Minute)},
		{"2d", now.Add(-48 * time.Hour)},
		{"1w2d", now.Add(-9 * 24 * time.Hour)},
		{"2025-01-15T12:00:00Z", time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)},
		{"2025-01-15T14:00:00+02:00", time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)},
		{"2025-01-15 12:00:00", time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)},
	} {
		got, err := parseAgo("--since", c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseAgo(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"yesterday", "1mo", "1y", "0", "-0s", "2025-13-01T00:00:00Z", "1x"} {
		if _, err := parseAgo("--since", in, now); err == nil || exitCode(err) != exitUsage {
			t.Errorf("parseAgo(%q): %v, want a usage error", in, err)
		}
	}
}
