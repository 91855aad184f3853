package main

import (
	"errors"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
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
