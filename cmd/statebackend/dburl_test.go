package main

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taskstate/statebackend/conformance/pgtest"
)

func TestParseDBURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, kind, path, shown string
		// For MySQL: what the driver reads back from the DSN.
		user, pass, addr, db string
	}{
		{raw: "sqlite:state.db", kind: "sqlite", path: "state.db", shown: "sqlite:state.db"},
		{raw: "sqlite:///var/lib/state.db", kind: "sqlite", path: "/var/lib/state.db", shown: "sqlite:/var/lib/state.db"},
		{raw: "postgres://ops:s3cret@db:5432/app?sslmode=disable", kind: "postgres", shown: "postgres://ops:xxxxx@db:5432/app?sslmode=disable"},
		{raw: "postgresql://db/app?password=s3cret", kind: "postgres", shown: "postgresql://db/app?password=xxxxx"},
		{
			raw: "mysql://ops:s3%2F%40%3Acret@db:3307/app?tls=false", kind: "mysql", shown: "mysql://ops:xxxxx@db:3307/app?tls=false",
			user: "ops", pass: "s3/@:cret", addr: "db:3307", db: "app",
		},
		{raw: "mysql://ops@db/app", kind: "mysql", shown: "mysql://ops@db/app", user: "ops", addr: "db:3306", db: "app"},
	} {
		u, err := parseDBURL("--db", tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if u.kind != tc.kind || u.path != tc.path || u.shown != tc.shown {
			t.Errorf("%s: got kind %q path %q shown %q", tc.raw, u.kind, u.path, u.shown)
		}
		if strings.Contains(u.shown, "s3cret") || strings.Contains(u.shown, "s3%2F") {
			t.Errorf("%s: the password is shown: %s", tc.raw, u.shown)
		}
		if tc.kind == "postgres" && !strings.Contains(u.dsn, "connect_timeout=10") {
			t.Errorf("%s: no connect timeout in the DSN", tc.raw)
		}
		if tc.kind == "mysql" {
			cfg, err := gomysql.ParseDSN(u.dsn)
			if err != nil || cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.Addr != tc.addr || cfg.DBName != tc.db || cfg.Timeout == 0 {
				t.Errorf("%s: the driver reads %+v, %v", tc.raw, cfg, err)
			}
		}
	}
}

func TestParseDBURLErrors(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"", "state.db", "//ops:s3cret@db/app", "ops:s3cret@db/app", "redis://ops:s3cret@db/0",
		"postgres://ops:s3cret@[::1/app", "postgres:///app", "mysql://ops:s3cret@db", "sqlite:", "sqlite::memory:",
	} {
		_, err := parseDBURL("--db", raw)
		var usage *usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: got %v, want a usage error", raw, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", raw, err)
		}
	}
}

// TestParsePgKeywordValue checks that Postgres keyword/value strings are
// read as pgx reads them, shown with their passwords masked, and given a
// connect timeout unless they set one.
func TestParsePgKeywordValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, shown string
		timeout    time.Duration
	}{
		{
			raw:   "host=127.0.0.1 port=55432 user=postgres dbname=sbtest sslmode=disable",
			shown: "host=127.0.0.1 port=55432 user=postgres dbname=sbtest sslmode=disable", timeout: 10 * time.Second,
		},
		{
			raw:   `  host = db  password = 's3 cr\'et\\' dbname=app `,
			shown: "host=db password=xxxxx dbname=app", timeout: 10 * time.Second,
		},
		{
			raw:   `postgres:host=db password=s3\ cret dbname=app connect_timeout=3 search_path=app`,
			shown: "host=db password=xxxxx dbname=app connect_timeout=3 search_path=app", timeout: 3 * time.Second,
		},
		{raw: "postgresql:dbname=app sslmode=disable sslpassword=s3cret", shown: "dbname=app sslmode=disable sslpassword=xxxxx", timeout: 10 * time.Second},
	} {
		u, err := parseDBURL("--db", tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if u.kind != "postgres" || u.shown != tc.shown {
			t.Errorf("%s: got kind %q shown %q, want postgres %q", tc.raw, u.kind, u.shown, tc.shown)
		}
		if strings.Contains(u.shown, "s3") {
			t.Errorf("%s: the password is shown: %s", tc.raw, u.shown)
		}
		want, err := pgconn.ParseConfig(strings.TrimPrefix(strings.TrimPrefix(tc.raw, "postgresql:"), "postgres:"))
		if err != nil {
			t.Fatalf("pgx cannot read %s: %v", tc.raw, err)
		}
		got, err := pgconn.ParseConfig(u.dsn)
		if err != nil {
			t.Errorf("%s: pgx cannot read the DSN: %v", tc.raw, err)
			continue
		}
		if got.Host != want.Host || got.Port != want.Port || got.User != want.User || got.Password != want.Password ||
			got.Database != want.Database || !maps.Equal(got.RuntimeParams, want.RuntimeParams) || got.ConnectTimeout != tc.timeout {
			t.Errorf("%s: pgx reads the DSN as %+v, the original as %+v", tc.raw, got, want)
		}
		if got.Password != "" && !slices.Contains(u.secrets, got.Password) {
			t.Errorf("%s: the password %q is not among the secrets", tc.raw, got.Password)
		}
	}
}

func TestParsePgKeywordValueErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, want string }{
		{"host=db password='s3cret", "the value of password has no closing quote"},
		{"host=db password=s3cret extra", `a keyword without "=" and a value at the end`},
		{"host=db password=s3 cret dbname=x", "quote a value that holds a space"},
		{"hots=db password=s3cret", `"hots" is not a Postgres connection keyword`},
		{"postgres:host=db password='s3cret", "no closing quote"},
	} {
		_, err := parseDBURL("STATEBACKEND_DB", tc.raw)
		var usage *usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "STATEBACKEND_DB") {
			t.Errorf("%q: got %v, want a usage error naming STATEBACKEND_DB: %s", tc.raw, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3") {
			t.Errorf("%q: the error shows the password: %v", tc.raw, err)
		}
	}
}

// pgKeywordValue returns the test Postgres as a keyword/value string.
func pgKeywordValue(t *testing.T) (dsn, password string) {
	t.Helper()
	raw := pgtest.DSN(t)
	cfg, err := pgconn.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if isPgKeywordValue(raw) {
		return raw, cfg.Password
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace
	parts := []string{"host=" + u.Hostname(), "port=" + u.Port(), "user='" + quote(u.User.Username()) + "'"}
	if p, ok := u.User.Password(); ok {
		parts = append(parts, "password='"+quote(p)+"'")
	}
	parts = append(parts, "dbname='"+quote(strings.TrimPrefix(u.Path, "/"))+"'")
	for _, k := range slices.Sorted(maps.Keys(u.Query())) {
		parts = append(parts, k+"='"+quote(u.Query().Get(k))+"'")
	}
	return strings.Join(parts, " "), cfg.Password
}

// TestKeywordValueOnPostgres uses a real Postgres through a keyword/value
// string: migrate --create, copy into it and back, status; the password
// never printed.
func TestKeywordValueOnPostgres(t *testing.T) {
	t.Parallel()
	dsn, password := pgKeywordValue(t)
	app := uniqueApp("kv")
	for _, db := range []string{dsn, "postgres:" + dsn} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"--app", app, "status"}, &stdout, &stderr,
			func(k string) string { return map[string]string{dbEnv: db}[k] })
		if code != 1 || !strings.Contains(stderr.String(), "has no tables in host=") {
			t.Errorf("status of a new app: exit %d, %s", code, stderr.String())
		}
		if shown := stderr.String(); !strings.Contains(shown, "password=xxxxx") || leaks(shown, password) {
			t.Errorf("the password is printed: %s", shown)
		}
	}
	out := runCLI(t, "--db", dsn, "--app", app, "migrate", "--create")
	if !strings.HasPrefix(out, "created the tables of app ") {
		t.Errorf("migrate --create: %s", out)
	}
	src := seedSQLite(t, app, 20)
	out = runCLI(t, "--app", app, "copy", "--from", src, "--to", dsn)
	back := "sqlite:" + filepath.Join(t.TempDir(), "back.db")
	out += runCLI(t, "--app", app, "copy", "--from", "postgres:"+dsn, "--to", back)
	assertSameState(t, openURL(t, src, app), openURL(t, back, app), dataKeys)
	out += runCLI(t, "--db", dsn, "--app", app, "status")
	if !strings.Contains(out, "host=") || !strings.Contains(out, "password=xxxxx") || leaks(out, password) {
		t.Errorf("the output names the database without its password? %s", out)
	}
}

// leaks reports whether s shows password as a value. (The test container's
// password is also its user and database name, and in every error prefix,
// so the bare word may be there.)
func leaks(s, password string) bool {
	return password != "" && (strings.Contains(s, "password="+password) || strings.Contains(s, "password='"+password))
}
