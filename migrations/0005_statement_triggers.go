package migrations

import (
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Version 5 has Postgres run the two triggers of an inserted history
// record (the current-status upsert of version 3 and the change of version
// 4) once per statement, over every record the statement inserted, instead
// of once per record. A statement that inserts a page of records (an
// import, a copy, a group of AddHistory calls committed together) then
// makes one upsert of the current statuses and one insert of changes,
// which on a copy into Postgres takes a third of the server's time away.
//
// What the triggers keep is unchanged. The status upsert takes, of the
// statement's records of each invocation, the latest (by timestamp, then
// by id), which is the record the per-record upserts left current, and
// upserts it under the same rule against the stored row; it visits the
// invocations in id order, so two statements lock the rows they share in
// the same order. The change insert appends the records' changes in the
// order of their ids, the order the records were inserted. Postgres runs
// the statement triggers of an event in the order of their names, as it
// did the row triggers: the status upsert, which locks the invocations'
// rows until the transaction ends, comes before the changes take their
// ids, so the changes of one invocation still take their ids in commit
// order.
//
// SQLite and MySQL have no triggers per statement: the migration changes
// nothing there.
// MinCompatible stays 3: libraries of version 4 write and read the tables
// as before.
func statementTriggers() Migration {
	return Migration{
		Version: 5,
		Name:    "statement_triggers",
		Description: "On Postgres, the history's triggers that keep the current statuses and append the changes " +
			"run once per statement over the records it inserted, not once per record: batched history writes " +
			"cost the server less. Nothing changes on SQLite and MySQL.",
		MinCompatible: 3,
		Steps: []Step{
			historyStatementStep("status_ins", historyStatusStatement),
			historyStatementStep("watch_ins", historyChangeStatement),
		},
	}
}

// historyStatementStep is the step that replaces the history's row
// trigger suffix by a statement trigger of the same name, whose function
// runs body over the transition table "written" of the records an insert
// made. Dropping the row trigger and creating the statement
// trigger happen in the migration's transaction, so no write runs between
// them. On other databases the step is done from the start.
func historyStatementStep(suffix string, body func(n names) string) Step {
	const model = "History"
	return Step{
		Name: "per-statement trigger " + model + "." + suffix,
		Done: func(db *gorm.DB, t entities.Tables) (bool, error) {
			if dialectOf(db) != "postgres" {
				return true, nil
			}
			var n int64
			err := db.Raw("SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = current_schema() "+
				"AND trigger_name = ? AND action_orientation = 'STATEMENT'", triggerName(t, model, suffix)).Scan(&n).Error
			return n > 0, err
		},
		Apply: func(db *gorm.DB, t entities.Tables) error {
			n := namesOf("postgres", t, triggerName(t, model, suffix))
			stmts := append([]string{"DROP TRIGGER IF EXISTS " + n.trigger + " ON " + n.history},
				postgresStatementFunction(n, "AFTER INSERT ON "+n.history, body(n))...)
			for _, s := range stmts {
				if err := db.Exec(s).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// postgresStatementFunction returns the statements that create a
// statement trigger on Postgres whose function runs body, which reads the
// rows the statement wrote from the transition table "written".
func postgresStatementFunction(n names, event, body string) []string {
	return []string{
		"CREATE OR REPLACE FUNCTION " + n.trigger + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " +
			body + " RETURN NULL; END $$",
		"CREATE TRIGGER " + n.trigger + " " + event + " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE PROCEDURE " + n.trigger + "()",
	}
}

// historyStatusStatement upserts the current status of each invocation
// the inserted records are of, from its latest record among them.
func historyStatusStatement(n names) string {
	return "INSERT INTO " + n.status + " (" + statusColumns + ") SELECT DISTINCT ON (invocation_id) invocation_id, '', " +
		"history_status, history_timestamp, id, " + runnerExpr("postgres", "history_json") +
		" FROM written ORDER BY invocation_id, history_timestamp DESC, id DESC" +
		laterUpsert("postgres", n.status, false) + ";"
}

// historyChangeStatement appends a change for each inserted record, in
// the order of the records' ids.
func historyChangeStatement(n names) string {
	return "INSERT INTO " + n.changes + " (" + changeColumns + ") SELECT 'history', invocation_id, history_status, " +
		"history_timestamp, " + nowMicros("postgres") + " FROM written ORDER BY id;"
}
