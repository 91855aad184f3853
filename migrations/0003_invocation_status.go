package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Version 3 keeps the current status of every invocation in a table of its
// own, state_backend_invocation_status, so that invocations can be listed
// and counted by status, task and time without reading their history.
//
// The database keeps the table: triggers on the history table upsert an
// invocation's row whenever a record is inserted, replacing the status only
// when the new record is later (by timestamp, then by id, which orders
// records inserted with equal timestamps) than the one the row holds, so a
// late record with an older timestamp changes nothing. Triggers on the
// invocations table copy the task key. Because the database runs them in
// the transaction of the write, every writer keeps the table, whatever
// its library version, and a bulk import or a copy needs nothing more.
//
// Concurrent writers stay consistent: every change to a row is an upsert
// on its primary key (or, on SQLite, which has one writer at a time, an
// update), whose condition compares against the row as the database locked
// it, never against an earlier read.
//
// MinCompatible is 3: libraries that know only versions 1 and 2 would
// prune invocations without deleting their current status, which would
// then list invocations that no longer exist.

// v3InvocationStatus is the current-status table as version 3 creates it.
type v3InvocationStatus struct {
	InvocationID    entities.Key `gorm:"column:invocation_id;primaryKey;size:255;index:,composite:status_changed,priority:3;index:,composite:task_status_changed,priority:4"`
	TaskIDKey       entities.Key `gorm:"column:task_id_key;not null;size:255;index:,composite:task_status_changed,priority:1"`
	Status          entities.Key `gorm:"column:status;not null;size:32;index:,composite:status_changed,priority:1;index:,composite:task_status_changed,priority:2"`
	StatusTimestamp int64        `gorm:"column:status_timestamp;not null;index:,composite:status_changed,priority:2;index:,composite:task_status_changed,priority:3"`
	HistoryID       int64        `gorm:"column:history_id;not null"`
	RunnerContextID entities.Key `gorm:"column:runner_context_id;not null;size:255"`
}

// BackfillBatch is the number of invocations each backfill transaction of
// version 3 derives the current status of.
const BackfillBatch = 5000

// backfillBatch is BackfillBatch, smaller in tests; afterBackfillBatch,
// when tests set it, runs after each committed batch.
var (
	backfillBatch      = BackfillBatch
	afterBackfillBatch func(t entities.Tables, after string)
)

func invocationStatus() Migration {
	return Migration{
		Version: 3,
		Name:    "invocation_status",
		Description: "The current status of each invocation (its latest history record) in a table of its own, " +
			"kept by triggers on the history and invocations tables and derived for existing invocations in " +
			"batches: listing and counting invocations by status, task and time.",
		MinCompatible: 3,
		Steps: []Step{
			statusTable(),
			trigger("History", "status_ins", historyInsertTrigger),
			trigger("History", "status_upd", historyUpdateTrigger),
			trigger("Invocation", "status_ins", invocationInsertTrigger),
			trigger("Invocation", "status_upd", invocationUpdateTrigger),
		},
		Backfill: backfillInvocationStatus,
	}
}

// statusTable is the step that creates the current-status table. On
// SQLite it is a WITHOUT ROWID table, clustered on the invocation id as
// InnoDB tables are: each status change then writes one page fewer, which
// the history writes that keep it feel (every write commits the pages it
// touched). On Postgres autovacuum visits it more often than others.
func statusTable() Step {
	step := createTable("InvocationStatus", &v3InvocationStatus{}, nil)
	apply := step.Apply
	step.Apply = func(db *gorm.DB, t entities.Tables) error {
		switch dialectOf(db) {
		case "sqlite":
			db = db.Set("gorm:table_options", "WITHOUT ROWID")
		case "postgres":
			// Every status change updates indexed columns, so each leaves a
			// dead row version in the indexes, which listings of the
			// statuses invocations pass through (registered, pending,
			// running) must step over until a vacuum: vacuum this table
			// after 2 % of its rows changed rather than the default 20 %.
			db = db.Set("gorm:table_options", "WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)")
		}
		return apply(db, t)
	}
	return step
}

// triggerName returns the name of the trigger suffix on the table of
// model (and, on Postgres, of its function).
func triggerName(t entities.Tables, model, suffix string) string {
	return t.Name(model) + "_" + suffix
}

// dialectOf returns the name of db's dialector: "sqlite", "postgres" or
// "mysql" (MariaDB too) for the databases this package supports.
func dialectOf(db *gorm.DB) string { return db.Dialector.Name() }

// trigger is the step that creates a trigger on the table of model, with
// the statements ddl returns for the database (one per statement to run).
func trigger(model, suffix string, ddl func(dialect string, n names) ([]string, error)) Step {
	return Step{
		Name: "create trigger " + model + "." + suffix,
		Done: func(db *gorm.DB, t entities.Tables) (bool, error) {
			return hasTrigger(db, triggerName(t, model, suffix))
		},
		Apply: func(db *gorm.DB, t entities.Tables) error {
			dialect := dialectOf(db)
			stmts, err := ddl(dialect, namesOf(dialect, t, triggerName(t, model, suffix)))
			if err != nil {
				return err
			}
			for _, s := range stmts {
				if err := db.Exec(s).Error; err != nil {
					if dialect == "mysql" && strings.Contains(err.Error(), "1419") {
						return fmt.Errorf("%w: with binary logging on (replication, Galera), creating triggers needs the SUPER "+
							"privilege or the server setting log_bin_trust_function_creators=1", err)
					}
					return err
				}
			}
			return nil
		},
	}
}

// hasTrigger reports whether the trigger called name exists.
func hasTrigger(db *gorm.DB, name string) (bool, error) {
	var n int64
	var err error
	switch dialectOf(db) {
	case "sqlite":
		err = db.Raw("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?", name).Scan(&n).Error
	case "postgres":
		err = db.Raw("SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = current_schema() AND trigger_name = ?", name).Scan(&n).Error
	case "mysql":
		err = db.Raw("SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name = ?", name).Scan(&n).Error
	default:
		return false, fmt.Errorf("triggers on %s are not supported", db.Dialector.Name())
	}
	return n > 0, err
}

// names holds the identifiers the trigger statements use, quoted for SQL.
type names struct {
	trigger, status, history, invocations   string
	changes, results, exceptions, workflows string
	// historyStatusTrigger is the history table's current-status trigger.
	historyStatusTrigger string
}

// namesOf returns the identifiers quoted for dialect: table names are
// checked safe ([A-Za-z_][A-Za-z0-9_]*) by Tables but may hold capitals,
// which Postgres folds unless quoted.
func namesOf(dialect string, t entities.Tables, trigger string) names {
	quote := func(s string) string { return `"` + s + `"` }
	if dialect == "mysql" {
		quote = func(s string) string { return "`" + s + "`" }
	}
	return names{
		trigger: quote(trigger), status: quote(t.Name("InvocationStatus")),
		history: quote(t.Name("History")), invocations: quote(t.Name("Invocation")),
		changes: quote(t.Name("Change")), results: quote(t.Name("Result")),
		exceptions: quote(t.Name("Exception")), workflows: quote(t.Name("Workflow")),
		historyStatusTrigger: quote(triggerName(t, "History", "status_ins")),
	}
}

// runnerExpr extracts the runner context id from a history document.
func runnerExpr(dialect, doc string) string {
	switch dialect {
	case "sqlite":
		return "COALESCE(json_extract(" + doc + ", '$.runner_context_id'), '')"
	case "postgres":
		return "COALESCE(" + doc + "::json->>'runner_context_id', '')"
	default: // mysql
		return "COALESCE(CASE WHEN JSON_TYPE(JSON_EXTRACT(" + doc + ", '$.runner_context_id')) = 'STRING' " +
			"THEN JSON_UNQUOTE(JSON_EXTRACT(" + doc + ", '$.runner_context_id')) END, '')"
	}
}

// statusColumns are the columns the status upserts insert, in order.
const statusColumns = "invocation_id, task_id_key, status, status_timestamp, history_id, runner_context_id"

// laterUpsert is the conflict clause that replaces a row's status with the
// inserted one only when the inserted record is later: a greater
// timestamp, or an equal timestamp and a greater history id. withTask
// also replaces the task key (the backfill knows it for certain).
func laterUpsert(dialect, status string, withTask bool) string {
	switch dialect {
	case "mysql":
		// MySQL assigns left to right, each assignment seeing the ones
		// before it: the condition's columns go last, history_id before
		// status_timestamp, which can only grow.
		later := "(VALUES(status_timestamp) > status_timestamp OR (VALUES(status_timestamp) = status_timestamp AND VALUES(history_id) > history_id))"
		set := []string{
			"status = IF(" + later + ", VALUES(status), status)",
			"runner_context_id = IF(" + later + ", VALUES(runner_context_id), runner_context_id)",
			"history_id = IF(" + later + ", VALUES(history_id), history_id)",
			"status_timestamp = GREATEST(status_timestamp, VALUES(status_timestamp))",
		}
		if withTask {
			set = append([]string{"task_id_key = VALUES(task_id_key)"}, set...)
		}
		return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	default:
		set := "status = excluded.status, status_timestamp = excluded.status_timestamp, " +
			"history_id = excluded.history_id, runner_context_id = excluded.runner_context_id"
		if withTask {
			// The task may change while the status does not.
			return " ON CONFLICT (invocation_id) DO UPDATE SET task_id_key = excluded.task_id_key, " +
				"status = CASE WHEN " + laterCond(status) + " THEN excluded.status ELSE " + status + ".status END, " +
				"runner_context_id = CASE WHEN " + laterCond(status) + " THEN excluded.runner_context_id ELSE " + status + ".runner_context_id END, " +
				"history_id = CASE WHEN " + laterCond(status) + " THEN excluded.history_id ELSE " + status + ".history_id END, " +
				"status_timestamp = CASE WHEN " + laterCond(status) + " THEN excluded.status_timestamp ELSE " + status + ".status_timestamp END"
		}
		return " ON CONFLICT (invocation_id) DO UPDATE SET " + set + " WHERE " + laterCond(status)
	}
}

// laterCond is true when the proposed row (excluded) is later than the
// stored one.
func laterCond(status string) string {
	return "(excluded.status_timestamp > " + status + ".status_timestamp OR (excluded.status_timestamp = " +
		status + ".status_timestamp AND excluded.history_id > " + status + ".history_id))"
}

// historyInsertTrigger upserts the invocation's current status from each
// inserted history record.
//
// On SQLite the row a record makes takes the task of a stored invocation.
// On Postgres and MySQL every stored invocation has its row already (the
// invocations' trigger and the backfill make it), and a record reads no
// other table: on MySQL such a read in a trigger takes shared locks on
// the invocations' index, which would hold up every writer of
// invocations until the record's transaction ends.
func historyInsertTrigger(dialect string, n names) ([]string, error) {
	task := "''"
	if dialect == "sqlite" {
		task = "COALESCE((SELECT task_id_key FROM " + n.invocations + " WHERE invocation_id = NEW.invocation_id), '')"
	}
	values := "(NEW.invocation_id, " + task + ", " +
		"NEW.history_status, NEW.history_timestamp, NEW.id, " + runnerExpr(dialect, "NEW.history_json") + ")"
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.history + " BEGIN " +
			"INSERT INTO " + n.status + " (" + statusColumns + ") VALUES " + values +
			laterUpsert(dialect, n.status, false) + "; END"}, nil
	case "postgres":
		return postgresTrigger(n, "AFTER INSERT ON "+n.history,
			"INSERT INTO "+n.status+" ("+statusColumns+") VALUES "+values+
				laterUpsert(dialect, n.status, false)+";"), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.history + " FOR EACH ROW " +
			"INSERT INTO " + n.status + " (" + statusColumns + ") VALUES " + values + laterUpsert(dialect, n.status, false)}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}

// historyUpdateTrigger follows a rewritten record (a second write of the
// same invocation, timestamp and status replaces the document in place):
// its runner context becomes the current one when the record is current.
func historyUpdateTrigger(dialect string, n names) ([]string, error) {
	update := "UPDATE " + n.status + " SET runner_context_id = " + runnerExpr(dialect, "NEW.history_json") +
		" WHERE invocation_id = NEW.invocation_id AND history_id = NEW.id"
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER UPDATE OF history_json ON " + n.history +
			" BEGIN " + update + "; END"}, nil
	case "postgres":
		return postgresTrigger(n, "AFTER UPDATE OF history_json ON "+n.history, update+";"), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER UPDATE ON " + n.history + " FOR EACH ROW " + update}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}

// invocationInsertTrigger copies a stored invocation's task key to its
// current-status row. On SQLite, where one transaction writes at a time,
// an update suffices: a history record written before the invocation made
// the row, one written after reads the task itself. Elsewhere a history
// record and its invocation can be written at once by two transactions
// that do not see each other's rows, so the invocation upserts the row
// (with no status yet) and whichever comes second updates it.
func invocationInsertTrigger(dialect string, n names) ([]string, error) {
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.invocations + " BEGIN " +
			sqliteCopyTask(n) + "; END"}, nil
	case "postgres":
		return postgresStatementTrigger(n, "AFTER INSERT ON "+n.invocations), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.invocations + " FOR EACH ROW " +
			mysqlUpsertTask(n)}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}

// postgresStatementTrigger copies the task keys of the invocations a
// statement wrote in one set-based upsert (a statement trigger with a
// transition table: one call per statement, not per row, which is what
// keeps multi-row upserts cheap).
func postgresStatementTrigger(n names, event string) []string {
	body := "INSERT INTO " + n.status + " (" + statusColumns + ") SELECT invocation_id, task_id_key, '', 0, 0, '' FROM written" +
		" ON CONFLICT (invocation_id) DO UPDATE SET task_id_key = excluded.task_id_key" +
		" WHERE " + n.status + ".task_id_key <> excluded.task_id_key;"
	return postgresStatementFunction(n, event, body)
}

// invocationUpdateTrigger copies a changed task key.
func invocationUpdateTrigger(dialect string, n names) ([]string, error) {
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER UPDATE OF task_id_key ON " + n.invocations +
			" WHEN NEW.task_id_key <> OLD.task_id_key BEGIN " + sqliteCopyTask(n) + "; END"}, nil
	case "postgres":
		return postgresStatementTrigger(n, "AFTER UPDATE ON "+n.invocations), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER UPDATE ON " + n.invocations + " FOR EACH ROW " +
			"BEGIN IF NEW.task_id_key <> OLD.task_id_key THEN " + mysqlUpsertTask(n) + "; END IF; END"}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}

func sqliteCopyTask(n names) string {
	return "UPDATE " + n.status + " SET task_id_key = NEW.task_id_key WHERE invocation_id = NEW.invocation_id"
}

// mysqlUpsertTask makes the invocation's row with its task key, or sets the
// task key of the row a history record made (MySQL).
func mysqlUpsertTask(n names) string {
	return "INSERT INTO " + n.status + " (" + statusColumns + ") VALUES (NEW.invocation_id, NEW.task_id_key, '', 0, 0, '')" +
		" ON DUPLICATE KEY UPDATE task_id_key = VALUES(task_id_key)"
}

// postgresTrigger returns the statements that create a row trigger on
// Postgres: its function, then the trigger.
func postgresTrigger(n names, event, body string) []string {
	return []string{
		"CREATE OR REPLACE FUNCTION " + n.trigger + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " +
			body + " RETURN NULL; END $$",
		"CREATE TRIGGER " + n.trigger + " " + event + " FOR EACH ROW EXECUTE PROCEDURE " + n.trigger + "()",
	}
}

// backfillInvocationStatus derives the current status of every invocation
// with history, backfillBatch invocations per transaction, in invocation
// id order; on Postgres and MySQL it first makes the row of every stored
// invocation (with its task and no status), as the invocations' trigger
// does for new ones. Each batch upserts under the triggers' rule, so it is
// harmless to repeat and correct beside writers; the position reached is
// kept in the leases table, so a backfill that stops resumes where it was.
func backfillInvocationStatus(ctx context.Context, db *gorm.DB, t entities.Tables, log *slog.Logger) error {
	dialect := dialectOf(db)
	n := namesOf(dialect, t, "")
	fromHistory := "INSERT INTO " + n.status + " (" + statusColumns + ") SELECT h.invocation_id, COALESCE(i.task_id_key, ''), " +
		"h.history_status, h.history_timestamp, h.id, " + runnerExpr(dialect, "h.history_json") +
		" FROM " + n.history + " h LEFT JOIN " + n.invocations + " i ON i.invocation_id = h.invocation_id" +
		" WHERE h.invocation_id >= ? AND h.invocation_id <= ? AND NOT EXISTS (SELECT 1 FROM " + n.history + " h2" +
		" WHERE h2.invocation_id = h.invocation_id AND (h2.history_timestamp > h.history_timestamp" +
		" OR (h2.history_timestamp = h.history_timestamp AND h2.id > h.id)))" +
		laterUpsert(dialect, n.status, true)
	passes := []struct{ name, model, insert string }{}
	if dialect != "sqlite" {
		fromInvocations := "INSERT INTO " + n.status + " (" + statusColumns + ") SELECT invocation_id, task_id_key, '', 0, 0, ''" +
			" FROM " + n.invocations + " WHERE invocation_id >= ? AND invocation_id <= ?"
		if dialect == "mysql" {
			fromInvocations += " ON DUPLICATE KEY UPDATE task_id_key = VALUES(task_id_key)"
		} else {
			fromInvocations += " ON CONFLICT (invocation_id) DO UPDATE SET task_id_key = excluded.task_id_key"
		}
		passes = append(passes, struct{ name, model, insert string }{"invocations", "Invocation", fromInvocations})
	}
	passes = append(passes, struct{ name, model, insert string }{"history", "History", fromHistory})
	for _, p := range passes {
		if err := backfillPass(ctx, db, t, log, p.name, t.Name(p.model), p.insert); err != nil {
			return err
		}
	}
	return nil
}

// backfillPass runs insert over the distinct invocation ids of table,
// backfillBatch ids per transaction (insert takes the first and the last
// id of the batch), keeping its position in the leases table.
func backfillPass(ctx context.Context, db *gorm.DB, t entities.Tables, log *slog.Logger, name, table, insert string) error {
	mark := "schema backfill " + invocationStatus().ID() + " " + name
	leases := t.Name("Lease")
	var after string
	if err := db.Table(leases).Select("holder").Where("name = ?", mark).Scan(&after).Error; err != nil {
		return err
	}
	if after != "" {
		log.Info("resuming the backfill of current statuses", "from", name, "after", after)
	}
	began, done, last := time.Now(), 0, time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ids []string
		q := db.Table(table).Distinct("invocation_id").Order("invocation_id").Limit(backfillBatch)
		if after != "" {
			q = q.Where("invocation_id > ?", after)
		}
		if err := q.Pluck("invocation_id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(insert, ids[0], ids[len(ids)-1]).Error; err != nil {
				return err
			}
			return saveMark(tx, leases, mark, ids[len(ids)-1])
		})
		if err != nil {
			return err
		}
		after = ids[len(ids)-1]
		done += len(ids)
		if afterBackfillBatch != nil {
			afterBackfillBatch(t, after)
		}
		if time.Since(last) >= 5*time.Second {
			log.Info("backfilling current statuses", "from", name, "invocations", done, "after", after)
			last = time.Now()
		}
	}
	if err := db.Table(leases).Where("name = ?", mark).Delete(&entities.Lease{}).Error; err != nil {
		return err
	}
	log.Info("backfilled current statuses", "from", name, "invocations", done, "took", time.Since(began))
	return nil
}

// saveMark records the backfill's position in the leases table: a row no
// holder ever takes (it never expires, and no lease has its name).
func saveMark(tx *gorm.DB, leases, mark, after string) error {
	res := tx.Table(leases).Where("name = ?", mark).Update("holder", after)
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	return tx.Table(leases).Create(map[string]any{"name": mark, "holder": after, "expires_at": 0}).Error
}
