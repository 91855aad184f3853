package mysql

import (
	"fmt"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
)

// TestTransient checks which server errors are worth a retry: deadlocks,
// lock timeouts and a trigger that failed to load, not other syntax
// errors.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&gomysql.MySQLError{Number: 1213, Message: "Deadlock found"}, "deadlock"},
		{fmt.Errorf("wrapped: %w", &gomysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}), "lock_timeout"},
		{&gomysql.MySQLError{Number: 1064, Message: "Unknown trigger has an error in its body: 'Query was empty'"}, "trigger_load"},
		{&gomysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}, ""},
		{&gomysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, ""},
		{fmt.Errorf("not a server error"), ""},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
