package mysql

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestOpenTimeouts checks that Open sets readTimeout and writeTimeout to
// IOTimeout unless the DSN sets them, 0 (none) included.
func TestOpenTimeouts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dsn         string
		read, write time.Duration
	}{
		{"u:p@tcp(h:3306)/db", IOTimeout, IOTimeout},
		{"u:p@tcp(h:3306)/db?readTimeout=2s", 2 * time.Second, IOTimeout},
		{"u:p@tcp(h:3306)/db?parseTime=false&writeTimeout=0", IOTimeout, 0},
	} {
		d := Open(c.dsn)
		if d.cfg == nil {
			t.Fatalf("%s: %v", c.dsn, d.dsnErr)
		}
		if d.cfg.ReadTimeout != c.read || d.cfg.WriteTimeout != c.write {
			t.Errorf("%s: readTimeout %v, writeTimeout %v; want %v, %v", c.dsn, d.cfg.ReadTimeout, d.cfg.WriteTimeout, c.read, c.write)
		}
	}
}

// TestWithLogger checks that WithLogger leaves its receiver alone and that
// the driver's messages reach the logger it was given, and only that one.
func TestWithLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	d := Open("u:p@tcp(h:3306)/db")
	ld := d.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))).(*Dialector)
	if d.logger != nil || d.Config == ld.Config {
		t.Fatal("WithLogger changed its receiver")
	}
	driverLogger{ld.logger}.Print("packets.go:58 ", "unexpected EOF")
	driverLogger{d.logger}.Print("to nobody") // discarded, not printed
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "mysql driver: packets.go:58") ||
		strings.Contains(out, "nobody") {
		t.Errorf("log: %q", out)
	}
}
