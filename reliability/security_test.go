package reliability_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gomysql "github.com/go-sql-driver/mysql"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// safeIdentifier is what every table and index name must match before it
// reaches SQL.
var safeIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// hostileAppIDs are app ids chosen to break table names: SQL injection,
// quoting characters of every dialect, non-ASCII, control bytes, leading
// digits, lengths past every identifier limit, and ids that sanitize alike.
var hostileAppIDs = []string{
	`x"; DROP TABLE y; --`,
	"x`; DROP TABLE y; --",
	"x'; DROP TABLE y; --",
	"Robert'); DROP TABLE state_backend_invocations;--",
	"[brackets] $1 %s ? :name",
	"my-app", "my_app", "my.app", "my app", "MY_APP",
	"ünïcödé", "日本語", "🚀", "é",
	"123abc", "0", "_", "__", "state_backend", "x__state_backend_app_info",
	strings.Repeat("a", 300),
	strings.Repeat("a", 299) + "b",
	strings.Repeat("é", 150),
	strings.Repeat("x", 255),
	"a\nb", "a\x00b", "\xff\xfe", " ",
}

// TestAppIDPrefixIsSafe proves that the app id never reaches SQL unchecked:
// for every hostile app id and each dialect's identifier limit (none for
// SQLite, 63 bytes for Postgres, 64 for MySQL), every table name matches
// ^[A-Za-z_][A-Za-z0-9_]*$, fits the limit and starts with the app's own
// prefix; the prefixes of different app ids differ even when the ids
// sanitize alike ("my-app", "my_app", "my.app") or are cut at the limit;
// and the empty app id gives the table names of pynenc's SQLite state backend.
func TestAppIDPrefixIsSafe(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 63, 64} {
		prefixes := map[string]string{}
		for _, id := range hostileAppIDs {
			tables, err := entities.NewTables(id, limit)
			if err != nil {
				t.Errorf("limit %d: NewTables(%q): %v", limit, id, err)
				continue
			}
			p := tables.Prefix()
			if other, ok := prefixes[p]; ok {
				t.Errorf("limit %d: app ids %q and %q share the prefix %q", limit, id, other, p)
			}
			prefixes[p] = id
			if !strings.HasSuffix(p, "__") || len(p) < len("_12345678__")+1 {
				t.Errorf("limit %d: app id %q gives prefix %q, want <name>_<hash>__", limit, id, p)
			}
			for _, name := range tables.Names() {
				if !safeIdentifier.MatchString(name) {
					t.Errorf("limit %d: app id %q gives table name %q", limit, id, name)
				}
				if limit > 0 && len(name) > limit {
					t.Errorf("limit %d: app id %q gives the %d-byte table name %q", limit, id, len(name), name)
				}
				if !strings.HasPrefix(name, p) {
					t.Errorf("limit %d: table %q lacks the app's prefix %q", limit, name, p)
				}
			}
		}
		def, err := entities.NewTables("", limit)
		if err != nil || def.Prefix() != "" || def.Name("Result") != "state_backend_results" {
			t.Errorf("limit %d: the default app gives prefix %q, table %q (%v); want pynenc's names",
				limit, def.Prefix(), def.Name("Result"), err)
		}
	}
}

// TestHostileAppIDsOnSQLite proves the same end to end: Open either refuses
// a hostile app id with ErrInvalidArgument (NUL bytes, invalid UTF-8, over
// 255 bytes) and creates nothing, or creates tables and indexes whose every
// name is a safe identifier, and the app works and is isolated from the
// others sharing the file (ids that sanitize alike included).
func TestHostileAppIDsOnSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hostile.db")
	openHostile(t, "sqlite", func(id string) (statebackend.Backend, error) {
		return statebackend.Open(sqlite.Open(path), statebackend.WithAppID(id))
	})
	db, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if !safeIdentifier.MatchString(name) {
			t.Errorf("the file holds a table or index named %q", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tables and indexes, every name safe", n)
}

// TestHostileAppIDsOnPostgres is TestHostileAppIDsOnSQLite on Postgres,
// whose 63-byte identifier limit the long ids exceed.
func TestHostileAppIDsOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	openHostile(t, "postgres", func(id string) (statebackend.Backend, error) {
		return statebackend.Open(postgres.Open(dsn), statebackend.WithAppID(id))
	})
}

// TestHostileAppIDsOnMySQL is TestHostileAppIDsOnSQLite on MySQL/MariaDB
// (64-byte identifiers).
func TestHostileAppIDsOnMySQL(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	openHostile(t, "mysql", func(id string) (statebackend.Backend, error) {
		return statebackend.Open(mysql.Open(dsn), statebackend.WithAppID(id))
	})
}

// openHostile opens every hostile app id (made unique to this run, so runs
// on a shared server do not meet) and checks each app works on its own.
func openHostile(t *testing.T, dialect string, open func(appID string) (statebackend.Backend, error)) {
	t.Helper()
	ctx := t.Context()
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	type app struct {
		id  string
		b   statebackend.Backend
		inv statebackend.Invocation
	}
	var opened []app
	defer func() {
		for _, a := range opened {
			_ = a.b.Purge(ctx)
			_ = a.b.Close()
		}
	}()
	for i, hostile := range hostileAppIDs {
		id := hostile + run
		b, err := open(id)
		acceptable := len(id) <= statebackend.MaxIDLen && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
		if errors.Is(err, statebackend.ErrInvalidArgument) {
			if acceptable {
				t.Errorf("%s: app id %q refused: %v", dialect, id, err)
			}
			continue
		}
		if !acceptable {
			t.Errorf("%s: app id %q accepted (err %v), want ErrInvalidArgument", dialect, id, err)
		}
		if err != nil {
			t.Errorf("%s: open app id %q: %v", dialect, id, err)
			continue
		}
		a := app{id: id, b: b, inv: invocation(uint64(i), "inv", "inv", i)}
		opened = append(opened, a)
		if err := b.UpsertInvocations(ctx, []statebackend.Invocation{a.inv}); err != nil {
			t.Errorf("%s: app id %q: UpsertInvocations: %v", dialect, id, err)
		}
	}
	// Every app sees its own invocation and no other's.
	for _, a := range opened {
		got, err := a.b.Invocation(ctx, "inv")
		if err != nil || !reflect.DeepEqual(got, normalized(a.inv)) {
			t.Errorf("%s: app %q reads %+v (%v), want its own invocation", dialect, a.id, got, err)
		}
		ids, err := a.b.InvocationIDsByWorkflow(ctx, statebackend.WorkflowFilter{})
		if err != nil || len(ids) != 1 {
			t.Errorf("%s: app %q holds %v (%v), want only its own invocation", dialect, a.id, ids, err)
		}
	}
}

// The passwords the leak test puts in DSNs: one plain, one that needs
// escaping in a URL.
const (
	passwordMarker = "LEAK"
	plainPassword  = "Pw-9f3b2c71-LEAKCHECK"
	quotedPassword = "p@ss/w:rd%LEAK?#"
)

// TestDSNPasswordNotLeaked proves that a DSN's password appears neither in
// the error Open returns nor in anything logged through WithLogger (at
// debug level), for Postgres and MySQL DSNs in URL and key=value or
// go-sql-driver form, pointing at a closed port on 127.0.0.1, malformed so
// that parsing fails, and, when pgtest/mysqltest provide a server, at a
// real server with the wrong password.
func TestDSNPasswordNotLeaked(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	cases := []struct {
		name    string
		dialect string
		dsn     func(pw string) string
	}{
		{"postgres URL, closed port", "postgres", func(pw string) string {
			return fmt.Sprintf("postgres://user:%s@127.0.0.1:%d/db?sslmode=disable&connect_timeout=5", url.QueryEscape(pw), port)
		}},
		{"postgres key=value, closed port", "postgres", func(pw string) string {
			return fmt.Sprintf("host=127.0.0.1 port=%d user=user password='%s' dbname=db sslmode=disable connect_timeout=5", port, pw)
		}},
		{"postgres URL, bad port", "postgres", func(pw string) string {
			return fmt.Sprintf("postgres://user:%s@127.0.0.1:notaport/db", url.QueryEscape(pw))
		}},
		{"postgres URL, bad query", "postgres", func(pw string) string {
			return fmt.Sprintf("postgres://user:%s@127.0.0.1:%d/db?sslmode=bogus", url.QueryEscape(pw), port)
		}},
		{"postgres key=value, unterminated quote", "postgres", func(pw string) string {
			return fmt.Sprintf("host=127.0.0.1 password='%s' port='%d", pw, port)
		}},
		{"postgres key=value, bad option", "postgres", func(pw string) string {
			return fmt.Sprintf("host=127.0.0.1 port=%d password='%s' sslmode=bogus", port, pw)
		}},
		// Forms pgx's own masking misses: spaces around "=", an escaped
		// quote, an unescaped "@" in a URL's password, a bad escape.
		{"postgres key = value, bad option", "postgres", func(pw string) string {
			return fmt.Sprintf("host=127.0.0.1 port=%d password = '%s' sslmode=bogus", port, pw)
		}},
		{"postgres key= value, bad option", "postgres", func(pw string) string {
			return fmt.Sprintf("host=127.0.0.1 port=%d password= %s sslmode=bogus", port, strings.ReplaceAll(pw, "'", ""))
		}},
		{"postgres escaped quote, bad option", "postgres", func(pw string) string {
			return fmt.Sprintf(`host=127.0.0.1 port=%d password='it\'s %s' sslmode=bogus`, port, pw)
		}},
		{"postgres URL, raw password, bad port", "postgres", func(pw string) string {
			return fmt.Sprintf("postgres://user:%s@127.0.0.1:notaport/db", pw)
		}},
		{"postgres URL, bad escape", "postgres", func(pw string) string {
			return fmt.Sprintf("postgres://user:%s%%zz@127.0.0.1:%d/db", url.QueryEscape(pw), port)
		}},
		{"mysql, closed port", "mysql", func(pw string) string {
			return fmt.Sprintf("user:%s@tcp(127.0.0.1:%d)/db?timeout=5s", pw, port)
		}},
		{"mysql, malformed", "mysql", func(pw string) string {
			return fmt.Sprintf("user:%s@tcp(127.0.0.1:%d/db", pw, port)
		}},
		{"mysql, bad parameter", "mysql", func(pw string) string {
			return fmt.Sprintf("user:%s@tcp(127.0.0.1:%d)/db?timeout=forever", pw, port)
		}},
	}
	for _, tc := range cases {
		for _, pw := range []string{plainPassword, quotedPassword} {
			t.Run(tc.name+"/"+pw[:4], func(t *testing.T) {
				t.Parallel()
				checkNoLeak(t, tc.dialect, tc.dsn(pw), pw)
			})
		}
	}
	t.Run("postgres wrong password", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(pgtest.DSN(t))
		if err != nil || u.User == nil {
			t.Skipf("pgtest DSN is not a URL with a user (%v)", err)
		}
		for _, pw := range []string{plainPassword, quotedPassword} {
			u.User = url.UserPassword(u.User.Username(), pw)
			checkNoLeak(t, "postgres", u.String(), pw)
		}
	})
	t.Run("mysql wrong password", func(t *testing.T) {
		t.Parallel()
		cfg, err := gomysql.ParseDSN(mysqltest.DSN(t))
		if err != nil {
			t.Skipf("mysqltest DSN does not parse: %v", err)
		}
		for _, pw := range []string{plainPassword, quotedPassword} {
			cfg.Passwd = pw
			checkNoLeak(t, "mysql", cfg.FormatDSN(), pw)
		}
	})
}

// checkNoLeak opens dsn (expecting failure) with a debug logger and checks
// that neither the error nor the log holds pw, raw or URL-escaped, nor the
// marker every test password contains.
func checkNoLeak(t *testing.T, dialect, dsn, pw string) {
	t.Helper()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var d gorm.Dialector = postgres.Open(dsn)
	if dialect == "mysql" {
		d = mysql.Open(dsn)
	}
	start := time.Now()
	b, err := statebackend.Open(d, statebackend.WithLogger(logger), statebackend.WithAppID("leak"))
	if err == nil {
		// A lazy driver may only fail on first use.
		_, err = b.Invocation(t.Context(), "x")
		_ = b.Close()
	}
	if err == nil {
		t.Fatalf("%s: open and use succeeded with a wrong DSN", dialect)
	}
	// Both passwords contain the marker: not even a piece of one may show.
	for _, secret := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), passwordMarker} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error holds the password %q: %v", dialect, secret, err)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("%s: the log holds the password %q:\n%s", dialect, secret, logs.String())
		}
	}
	t.Logf("%s: failed in %v with: %v", dialect, time.Since(start).Round(time.Millisecond), err)
}

// closedPort returns a port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
