package mysql

import (
	"fmt"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
)

// TestTransient checks which server errors are worth a retry: deadlocks,
// lock timeouts and a trigger that failed to load, not other syntax
// errors; a missing table on a Galera node only.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err    error
		galera bool
		want   string
	}{
		{&gomysql.MySQLError{Number: 1213, Message: "Deadlock found"}, false, "deadlock"},
		{fmt.Errorf("wrapped: %w", &gomysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}), false, "lock_timeout"},
		{&gomysql.MySQLError{Number: 1064, Message: "Unknown trigger has an error in its body: 'Query was empty'"}, false, "trigger_load"},
		{&gomysql.MySQLError{Number: 1064, Message: "Trigger 'ct_5fe568cd1d_682eb46d__state_backend_history_status_ins' has an error in its body: 'You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near ' '', NEW.history_status, NEW.history_timestamp, NEW.id, COALESCE(CASE WHEN JS...' at line 1'"}, false, "trigger_load"},
		{&gomysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}, false, ""},
		{&gomysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false, ""},
		{&gomysql.MySQLError{Number: 1146, Message: "Table 'db.t' doesn't exist"}, true, "missing_table"},
		{&gomysql.MySQLError{Number: 1146, Message: "Table 'db.t' doesn't exist"}, false, ""},
		{fmt.Errorf("not a server error"), true, ""},
	} {
		if got := transient(c.err, c.galera); got != c.want {
			t.Errorf("transient(%v, galera %v) = %q, want %q", c.err, c.galera, got, c.want)
		}
	}
}
