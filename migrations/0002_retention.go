package migrations

import "github.com/taskstate/statebackend/entities"

// Version 2 adds what retention (pruning finished work) needs: indexes that
// find finished invocations and the members of a workflow run without
// scanning whole tables, and a table for the lease that keeps one
// background pruner per database. It only adds: libraries that know
// version 1 read and write a version-2 database as before (the database
// maintains the indexes).

// v2History holds the history columns of the status_time index: the
// records of one status in time order, so finding final records older than
// a cutoff reads those records and no others.
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
		Description: "Indexes for pruning finished work in small batches: history by (status, timestamp, id), " +
			"invocations and workflow runs by parent workflow; a leases table for the background pruner.",
		MinCompatible: 1,
		Steps: []Step{
			createIndex("History", &v2History{}, "status_time"),
			createIndex("Invocation", &v2Invocation{}, "parent_workflow"),
			createIndex("Workflow", &v2Workflow{}, "parent"),
			createTable("Lease", &v2Lease{}, nil),
		},
	}
}
