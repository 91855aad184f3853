package reliability_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
)

// TestReadOnlyServer proves that a write refused because the server or
// session is read-only (a Postgres hot standby, MySQL's read_only) wraps
// statebackend.ErrReadOnly, like a read-only SQLite file, while reads
// work. The session is made read-only through the DSN.
func TestReadOnlyServer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		db     serverDB
		params string
	}{
		{serverDBs[0], "default_transaction_read_only=on"},
		{serverDBs[1], "tx_read_only=1"}, // MariaDB's name (MySQL 8: transaction_read_only)
	} {
		t.Run(c.db.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			app := conformance.NewAppID()
			dsn := c.db.dsn(t)
			writer, err := statebackend.Open(c.db.open(dsn), statebackend.WithAppID(app))
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			if err := preparePurge(ctx, writer); err != nil {
				t.Fatal(err)
			}
			sep := map[bool]string{true: "&", false: "?"}[strings.Contains(dsn, "?")]
			ro, err := statebackend.Open(c.db.open(dsn+sep+c.params), statebackend.WithAppID(app), statebackend.WithoutAutoMigrate())
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if _, err := ro.Result(ctx, purgeKey); err != nil {
				t.Errorf("read on a read-only session: %v", err)
			}
			for _, op := range writeOps(1) {
				err := op.write(ctx, ro, "refused")
				if !errors.Is(err, statebackend.ErrReadOnly) || !strings.HasPrefix(err.Error(), "statebackend: "+op.name+": ") {
					t.Errorf("%s on a read-only session: %v, want statebackend: %s: ... wrapping ErrReadOnly", op.name, err, op.name)
				}
			}
		})
	}
}
