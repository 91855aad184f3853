package serverproc

import (
	"os"
	"strings"
	"testing"
)

// RequireEnv names the environment variable listing, comma-separated, the
// databases whose tests must fail instead of skipping when unavailable
// (the same variable pgtest and mysqltest read).
const RequireEnv = "STATEBACKEND_TEST_REQUIRE"

// Required reports whether RequireEnv names db.
func Required(db string) bool {
	for _, name := range strings.Split(os.Getenv(RequireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(name), db) {
			return true
		}
	}
	return false
}

// Unavailable skips t because the servers called title cannot run here
// (reason says why and how to enable them), or fails t when RequireEnv
// names db.
func Unavailable(t testing.TB, db, title, reason string) {
	t.Helper()
	if Required(db) {
		t.Fatalf("%s required (%s=%q) but unavailable: %s", title, RequireEnv, os.Getenv(RequireEnv), reason)
	}
	t.Skipf("%s tests skipped: %s", title, reason)
}
