package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// dbURL is a parsed --db, --from or --to database: a URL or a Postgres
// keyword/value string.
type dbURL struct {
	// kind is "sqlite", "postgres" or "mysql".
	kind string
	// path is the SQLite file.
	path string
	// dsn is what the database package's Open takes (Postgres and MySQL).
	dsn string
	// shown is the database as printed: the password replaced by "xxxxx".
	shown string
	// secrets are the strings no output may contain (the password, raw and
	// escaped).
	secrets []string
	// noMemoryMap opens a SQLite file without memory-mapping it
	// (sqlite.WithoutMemoryMap): copies, which read each page once.
	noMemoryMap bool
	// bulkWrites opens a SQLite file for a copy's many writes: its log is
	// checkpointed every bulkCheckpointPages pages rather than every 1,000.
	bulkWrites bool
}

// connectTimeout bounds connecting to a server, so that an unreachable
// database fails in seconds rather than at the operating system's TCP
// timeout. A URL that sets its own keeps it.
const connectTimeout = 10 * time.Second

// urlForms lists the forms of a database in messages.
const urlForms = "sqlite:PATH, postgres://..., a Postgres keyword/value string (host=... dbname=...) or mysql://..."

// parseDBURL reads the database forms the CLI accepts:
//
//	sqlite:PATH                  (also sqlite://PATH; sqlite:///abs/path)
//	postgres://user:pass@host:5432/db?sslmode=disable   (or postgresql://)
//	host=HOST port=5432 user=USER password=PASS dbname=DB sslmode=disable
//	                             (Postgres keyword/value; also after "postgres:")
//	mysql://user:pass@host:3306/db?param=value
//
// flag names where raw came from ("--db", "--to", "STATEBACKEND_DB"). The
// error is a usage error and never holds the password.
func parseDBURL(flag, raw string) (dbURL, error) {
	if raw == "" {
		if flag == "--db" || flag == dbEnv {
			return dbURL{}, usageErrorf("no database: pass --db URL (or set %s); forms: %s", dbEnv, urlForms)
		}
		return dbURL{}, usageErrorf("%s is empty: give a database URL (%s)", flag, urlForms)
	}
	if isPgKeywordValue(raw) {
		return parsePgKeywordValueURL(flag, raw)
	}
	if key, _, ok := strings.Cut(raw, "="); ok && isWord(strings.TrimSpace(key)) {
		return dbURL{}, usageErrorf("%s: %q is not a Postgres connection keyword (host, hostaddr, port, dbname, user, password, sslmode, ...): use %s",
			flag, strings.TrimSpace(key), urlForms)
	}
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/\\ @=") {
		shown := fmt.Sprintf(" %q", raw)
		if strings.ContainsAny(raw, "@=") {
			shown = "" // it may hold a password
		}
		return dbURL{}, usageErrorf("%s%s is not a URL: use %s", flag, shown, urlForms)
	}
	if kind := strings.ToLower(scheme); (kind == "postgres" || kind == "postgresql") && isPgKeywordValue(rest) {
		return parsePgKeywordValueURL(flag, rest)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3", "file":
		path := strings.TrimPrefix(rest, "//")
		if path == "" || path == ":memory:" {
			return dbURL{}, usageErrorf("%s %q names no file: use sqlite:PATH (an in-memory database would be gone when the command ends)", flag, raw)
		}
		return dbURL{kind: "sqlite", path: path, shown: "sqlite:" + path}, nil
	case "postgres", "postgresql":
		return parseServerURL(flag, raw, "postgres")
	case "mysql", "mariadb":
		return parseServerURL(flag, raw, "mysql")
	}
	return dbURL{}, usageErrorf("%s: unknown scheme %q: use %s", flag, scheme, urlForms)
}

// parseServerURL parses a Postgres or MySQL URL.
func parseServerURL(flag, raw, kind string) (dbURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the URL in its error: say what is wrong without it.
		return dbURL{}, usageErrorf("%s is not a valid %s URL (%s): use %s://user:password@host:port/database", flag, kind, urlProblem(err), kind)
	}
	d := dbURL{kind: kind, shown: u.Redacted()}
	if pass, ok := u.User.Password(); ok && pass != "" {
		d.secrets = append(d.secrets, pass, url.QueryEscape(pass), url.PathEscape(pass))
	}
	for _, v := range []string{"password", "passwd"} {
		if p := u.Query().Get(v); p != "" {
			d.secrets = append(d.secrets, p, url.QueryEscape(p))
			d.shown = redact(d.shown, p, url.QueryEscape(p))
		}
	}
	if u.Host == "" {
		return dbURL{}, usageErrorf("%s %s names no host: use %s://user:password@host:port/database", flag, d.shown, kind)
	}
	switch kind {
	case "postgres":
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", fmt.Sprint(int(connectTimeout.Seconds())))
			u.RawQuery = q.Encode()
		}
		d.dsn = u.String()
	case "mysql":
		dsn, err := mysqlDSN(u)
		if err != nil {
			return dbURL{}, usageErrorf("%s %s: %s", flag, d.shown, redact(err.Error(), d.secrets...))
		}
		d.dsn = dsn
	}
	return d, nil
}

// mysqlDSN turns mysql://user:pass@host:port/db?params into the
// go-sql-driver form user:pass@tcp(host:port)/db?params.
func mysqlDSN(u *url.URL) (string, error) {
	// Parsing the query alone applies the driver's own parameters (tls,
	// timeout, ...) and keeps the others as session variables.
	cfg, err := gomysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("bad parameters: %w", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return "", fmt.Errorf("name one database after the host: mysql://user:password@host:port/database")
	}
	if u.Query().Get("timeout") == "" {
		cfg.Timeout = connectTimeout
	}
	return cfg.FormatDSN(), nil
}

// isWord reports whether s is a keyword-like word: letters, digits and
// underscores.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// urlProblem returns what url.Parse found wrong, without the URL.
func urlProblem(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return "unparsable"
}

// dialector returns a new gorm dialector of the database. Each call gives
// a fresh one: a dialector holds its connection pool once opened.
func (d dbURL) dialector() gorm.Dialector {
	switch d.kind {
	case "sqlite":
		return sqlite.Open(d.path, d.sqliteOptions()...)
	case "postgres":
		return postgres.Open(d.dsn)
	default:
		return mysql.Open(d.dsn)
	}
}

// bulkCheckpointPages is how many pages of log the target of a copy or an
// import holds before a checkpoint (about 80 MiB): a page of an index that
// random keys (pynenc's UUIDs) write again and again reaches the file once
// per checkpoint. Copying 200,000 rows of random ids from Postgres into
// SQLite took 0.79 of the time it takes at SQLite's default of 1,000.
const bulkCheckpointPages = 20000

// sqliteOptions returns the options of a SQLite file's dialector: opts
// and those d asks for.
func (d dbURL) sqliteOptions(opts ...sqlite.Option) []sqlite.Option {
	if d.noMemoryMap {
		opts = append(opts, sqlite.WithoutMemoryMap())
	}
	if d.bulkWrites {
		opts = append(opts, sqlite.WithCheckpointEvery(bulkCheckpointPages))
	}
	return opts
}

// maxIdentifier is the database's limit on table names, which shortens
// long app ids in table prefixes.
func (d dbURL) maxIdentifier() int {
	if db, ok := d.dialector().(dialect.Database); ok {
		return db.Dialect().MaxIdentifierLength
	}
	return 0
}

// exists reports whether a SQLite file is there (servers: always true).
func (d dbURL) exists() bool {
	if d.kind != "sqlite" {
		return true
	}
	_, err := os.Stat(d.path)
	return err == nil
}

// redact replaces every secret in s by "xxxxx".
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 1 {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}
