package migrations

import (
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// Version 2 adds what retention (pruning finished work) needs: indexes that
// find finished invocations and the members of a workflow run without
// scanning whole tables, and a table for the lease that keeps one
// background pruner per database. It only adds: libraries that know
// version 1 read and write a version-2 database as before (the database
// maintains the indexes).

// FinalIndexPredicate is the WHERE clause of the status_time index where
// the database has partial indexes: the final statuses. A query must
// repeat it, word for word, for SQLite to use the index. Frozen: a change
// of the final statuses is a new migration.
const FinalIndexPredicate = "history_status IN ('concurrency_controlled_final', 'failed', 'success')"

// PartialIndexesSetting is the gorm setting (db.Set) under which a true
// value says the database supports partial indexes (CREATE INDEX ...
// WHERE), as SQLite and Postgres do.
const PartialIndexesSetting = "statebackend:partial_indexes"

// v2History holds the history columns of the status_time index: the
// records of one status in time order, so finding final records older than
// a cutoff reads those records and no others. Where the database has
// partial indexes the index holds the final records only (a quarter of a
// typical history), which spares most inserts its upkeep.
type v2History struct {
	ID               entities.Serial `gorm:"column:id;index:,composite:status_time,priority:3"`
	HistoryTimestamp int64           `gorm:"column:history_timestamp;index:,composite:status_time,priority:2"`
	HistoryStatus    entities.Key    `gorm:"column:history_status;size:32;index:,composite:status_time,priority:1"`
}

// v2Invocation holds the invocation column of the parent_workflow index:
// the invocations of the sub-workflows of a workflow.
type v2Invocation struct {
	ParentWorkflowID entities.Key `gorm:"column:parent_workflow_id;size:255;index:,composite:parent_workflow"`
}

// v2Workflow holds the workflow column of the parent index: the
// sub-workflow runs of a workflow.
type v2Workflow struct {
	ParentWorkflowID entities.Key `gorm:"column:parent_workflow_id;size:255;index:,composite:parent"`
}

// v2Lease is the leases table as version 2 creates it.
type v2Lease struct {
	Name      entities.Key `gorm:"column:name;primaryKey;size:255"`
	Holder    entities.Key `gorm:"column:holder;not null;size:255"`
	ExpiresAt int64        `gorm:"column:expires_at;not null"`
}

func retention() Migration {
	return Migration{
		Version: 2,
		Name:    "retention",
		Description: "Indexes for pruning finished work in small batches: history by (status, timestamp, id) " +
			"(final records only where the database has partial indexes), invocations and workflow runs by " +
			"parent workflow; a leases table for the background pruner.",
		MinCompatible: 1,
		Steps: []Step{
			statusTimeIndex(),
			createIndex("Invocation", &v2Invocation{}, "parent_workflow"),
			createIndex("Workflow", &v2Workflow{}, "parent"),
			createTable("Lease", &v2Lease{}, nil),
		},
	}
}

// statusTimeIndex is the step that creates history's status_time index:
// over the final records only where the database has partial indexes,
// over every record elsewhere (MySQL, MariaDB). Both have the same name.
func statusTimeIndex() Step {
	full := createIndex("History", &v2History{}, "status_time")
	return Step{
		Name: full.Name,
		Done: full.Done,
		Apply: func(db *gorm.DB, t entities.Tables) error {
			if partial, _ := db.Get(PartialIndexesSetting); partial != true {
				return full.Apply(db, t)
			}
			table := t.Name("History")
			return db.Exec(fmt.Sprintf("CREATE INDEX ? ON ? (?, ?, ?) WHERE %s", FinalIndexPredicate),
				clause.Table{Name: IndexName(db, table, "status_time")}, clause.Table{Name: table},
				clause.Column{Name: "history_status"}, clause.Column{Name: "history_timestamp"}, clause.Column{Name: "id"}).Error
		},
	}
}
