package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Postgres keyword/value connection strings, as libpq and pgx read them
// ("host=db port=5432 user=ops password='s3 cret' dbname=app"): operators
// paste them as often as URLs. The CLI takes one where its first keyword is
// a libpq connection keyword, which no URL, SQLite path of the sqlite: form
// or MySQL URL can be, or after "postgres:" ("postgres:host=db ...").

// pgKeywords are libpq's connection keywords. A string is read as
// keyword/value when its first keyword is one of them; later keywords may
// also be server settings ("search_path=app"), which pgx passes on.
var pgKeywords = []string{
	"host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth",
	"channel_binding", "connect_timeout", "client_encoding", "options", "application_name",
	"fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
	"sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
	"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
	"ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
	"target_session_attrs", "load_balance_hosts",
}

// pgSecretKeywords are the keywords whose values are never printed.
var pgSecretKeywords = []string{"password", "sslpassword"}

// pgPair is one keyword and value of a connection string; raw is the value
// as written (quoted, escaped).
type pgPair struct{ key, value, raw string }

// isPgKeywordValue reports whether s reads as a Postgres keyword/value
// string: its first non-space run ends in "=" (or is followed by one) after
// a libpq keyword.
func isPgKeywordValue(s string) bool {
	key, _, ok := strings.Cut(strings.TrimLeft(s, " \t\n\r\v\f"), "=")
	return ok && slices.Contains(pgKeywords, strings.TrimRight(key, " \t\n\r\v\f"))
}

// parsePgKeywordValue reads a keyword/value string with libpq's rules: pairs
// separated by spaces, spaces allowed around "=", a value either a run of
// non-spaces or single-quoted, a backslash escaping the next character in
// both. Its errors never hold a value.
func parsePgKeywordValue(s string) ([]pgPair, error) {
	const space = " \t\n\r\v\f"
	var pairs []pgPair
	s = strings.TrimLeft(s, space)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("a keyword without \"=\" and a value at the end")
		}
		key := strings.TrimRight(s[:eq], space)
		if key == "" || strings.ContainsAny(key, space+"'\\") {
			return nil, errors.New("expected keyword=value pairs separated by spaces; quote a value that holds a space, as in password='a b'")
		}
		s = strings.TrimLeft(s[eq+1:], space)
		var raw string
		var value strings.Builder
		if strings.HasPrefix(s, "'") {
			end := 1
			for ; end < len(s) && s[end] != '\''; end++ {
				if s[end] == '\\' {
					end++
				}
				if end < len(s) {
					value.WriteByte(s[end])
				}
			}
			if end >= len(s) {
				return nil, fmt.Errorf("the value of %s has no closing quote", key)
			}
			raw, s = s[:end+1], s[end+1:]
		} else {
			end := 0
			for ; end < len(s) && !strings.ContainsRune(space, rune(s[end])); end++ {
				if s[end] == '\\' {
					// A trailing backslash escapes the end: libpq drops it.
					if end++; end == len(s) {
						break
					}
				}
				value.WriteByte(s[end])
			}
			raw, s = s[:end], s[end:]
		}
		pairs = append(pairs, pgPair{key: key, value: value.String(), raw: raw})
		s = strings.TrimLeft(s, space)
	}
	if len(pairs) == 0 {
		return nil, errors.New("no keyword=value pairs")
	}
	return pairs, nil
}

// formatPgKeywordValue writes pairs back as a keyword/value string, every
// value quoted; secret values are replaced by mask unless mask is "".
func formatPgKeywordValue(pairs []pgPair, mask string) string {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		v := p.value
		if mask != "" && slices.Contains(pgSecretKeywords, p.key) {
			parts[i] = p.key + "=" + mask
			continue
		}
		if v == "" || strings.ContainsAny(v, " \t\n\r\v\f'\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		parts[i] = p.key + "=" + v
	}
	return strings.Join(parts, " ")
}

// parsePgKeywordValueURL turns a keyword/value string given by flag into a
// dbURL: the DSN pgx reads (with connect_timeout unless given), the string
// as printed with its passwords masked, and the passwords as secrets.
func parsePgKeywordValueURL(flag, raw string) (dbURL, error) {
	pairs, err := parsePgKeywordValue(raw)
	if err != nil {
		return dbURL{}, usageErrorf("%s is not a valid Postgres keyword/value string (%v): use host=HOST port=5432 user=USER password=PASSWORD dbname=DB", flag, err)
	}
	d := dbURL{kind: "postgres"}
	hasTimeout := false
	for _, p := range pairs {
		if slices.Contains(pgSecretKeywords, p.key) && p.value != "" {
			d.secrets = append(d.secrets, p.value, p.raw)
		}
		hasTimeout = hasTimeout || p.key == "connect_timeout"
	}
	d.shown = formatPgKeywordValue(pairs, "xxxxx")
	if !hasTimeout {
		pairs = append(pairs, pgPair{key: "connect_timeout", value: fmt.Sprint(int(connectTimeout.Seconds()))})
	}
	d.dsn = formatPgKeywordValue(pairs, "")
	return d, nil
}
