package migrations

import (
	"fmt"

	"github.com/taskstate/statebackend/entities"
)

// Version 4 records every committed write in a table of its own,
// state_backend_changes, which the change feed (state.Watcher) reads:
// each history record added, each result and exception stored, each
// workflow run stored for the first time, in an id order that follows
// the commits.
//
// The database appends the changes: triggers on the history, results,
// exceptions and workflows tables insert a row in the transaction of the
// write, so every writer records its changes, whatever its library version
// (an import, a copy, raw SQL). The id is the table's own sequence: on
// SQLite, which commits one transaction at a time, ids follow commit order
// exactly; on Postgres and MySQL ids are taken when a row is inserted and
// transactions commit in any order, which the feed allows for (it
// delivers an id only once every smaller id is committed or known never to
// commit).
//
// Changes of one invocation take their ids in commit order on every
// database: the trigger that records a history record runs after the one
// that upserts the invocation's current status, and the triggers that
// record a result or an exception first lock that row, so a second writer
// of the same invocation waits for the first to commit before it takes an
// id. On Postgres triggers of one event run in the order of their names,
// hence "watch" after "status"; MySQL runs them in creation order.
//
// MinCompatible stays 3: older libraries neither read nor delete changes,
// and their writes record changes through the triggers all the same (a
// prune by an older library leaves its changes to the next prune).

// v4Change is the changes table as version 4 creates it.
type v4Change struct {
	ID              entities.Serial `gorm:"column:id;primaryKey;autoIncrement"`
	Kind            entities.Key    `gorm:"column:kind;not null;size:16"`
	InvocationID    entities.Key    `gorm:"column:invocation_id;not null;size:255"`
	Status          entities.Key    `gorm:"column:status;not null;size:32"`
	StatusTimestamp int64           `gorm:"column:status_timestamp;not null"`
	RecordedAt      int64           `gorm:"column:recorded_at;not null"`
}

func changes() Migration {
	return Migration{
		Version: 4,
		Name:    "changes",
		Description: "A table of the committed writes (history records, results, exceptions, workflow runs), " +
			"appended by triggers in each write's transaction: the change feed that watchers follow.",
		MinCompatible: 3,
		Steps: []Step{
			createTable("Change", &v4Change{}, nil),
			trigger("History", "watch_ins", historyChangeTrigger),
			trigger("Result", "watch_ins", payloadChangeTrigger("result", "INSERT")),
			trigger("Result", "watch_upd", payloadChangeTrigger("result", "UPDATE")),
			trigger("Exception", "watch_ins", payloadChangeTrigger("exception", "INSERT")),
			trigger("Exception", "watch_upd", payloadChangeTrigger("exception", "UPDATE")),
			trigger("Workflow", "watch_ins", workflowChangeTrigger),
		},
	}
}

// changeColumns are the columns the change triggers insert, in order.
const changeColumns = "kind, invocation_id, status, status_timestamp, recorded_at"

// nowMicros is the database's clock in microseconds since the Unix epoch.
func nowMicros(dialect string) string {
	switch dialect {
	case "sqlite":
		return "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
	case "postgres":
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
	default: // mysql
		return "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
	}
}

// changeInsert returns the statement that appends a change of kind for
// the row NEW; inv, status and ts are expressions over NEW.
func changeInsert(dialect string, n names, kind, inv, status, ts string) string {
	return "INSERT INTO " + n.changes + " (" + changeColumns + ") VALUES ('" + kind + "', " + inv + ", " +
		status + ", " + ts + ", " + nowMicros(dialect) + ")"
}

// historyChangeTrigger records each inserted history record. It runs
// after the current-status trigger, whose upsert locks the invocation's
// row, so the change's id follows the order in which writers of the same
// invocation commit.
func historyChangeTrigger(dialect string, n names) ([]string, error) {
	insert := changeInsert(dialect, n, "history", "NEW.invocation_id", "NEW.history_status", "NEW.history_timestamp")
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.history + " BEGIN " + insert + "; END"}, nil
	case "postgres":
		return postgresTrigger(n, "AFTER INSERT ON "+n.history, insert+";"), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.history + " FOR EACH ROW FOLLOWS " +
			n.historyStatusTrigger + " " + insert}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}

// payloadChangeTrigger records each result (table "result") or exception
// ("exception") stored by event (INSERT or UPDATE). On Postgres and MySQL
// it first locks the invocation's current-status row, where writers of
// the invocation's history queue too, so that the changes of one
// invocation take their ids in commit order.
func payloadChangeTrigger(kind, event string) func(dialect string, n names) ([]string, error) {
	return func(dialect string, n names) ([]string, error) {
		table := n.results
		if kind == "exception" {
			table = n.exceptions
		}
		insert := changeInsert(dialect, n, kind, "NEW.invocation_id", "''", "0")
		switch dialect {
		case "sqlite":
			return []string{"CREATE TRIGGER " + n.trigger + " AFTER " + event + " ON " + table + " BEGIN " + insert + "; END"}, nil
		case "postgres":
			return postgresTrigger(n, "AFTER "+event+" ON "+table,
				"PERFORM 1 FROM "+n.status+" WHERE invocation_id = NEW.invocation_id FOR UPDATE; "+insert+";"), nil
		case "mysql":
			return []string{"CREATE TRIGGER " + n.trigger + " AFTER " + event + " ON " + table + " FOR EACH ROW BEGIN " +
				"SELECT COUNT(*) INTO @statebackend_locked FROM " + n.status + " WHERE invocation_id = NEW.invocation_id FOR UPDATE; " +
				insert + "; END"}, nil
		}
		return nil, fmt.Errorf("triggers on %s are not supported", dialect)
	}
}

// workflowChangeTrigger records each workflow run stored for the first
// time (a run is stored once; storing it again changes nothing).
func workflowChangeTrigger(dialect string, n names) ([]string, error) {
	insert := changeInsert(dialect, n, "workflow_run", "NEW.workflow_id", "''", "0")
	switch dialect {
	case "sqlite":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.workflows + " BEGIN " + insert + "; END"}, nil
	case "postgres":
		return postgresTrigger(n, "AFTER INSERT ON "+n.workflows, insert+";"), nil
	case "mysql":
		return []string{"CREATE TRIGGER " + n.trigger + " AFTER INSERT ON " + n.workflows + " FOR EACH ROW " + insert}, nil
	}
	return nil, fmt.Errorf("triggers on %s are not supported", dialect)
}
