package migrations

import (
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

// Version 1 is the schema v0.1.0 created: its nine tables, with the
// columns and indexes below (frozen copies of the entities of v0.1.0).
//
// SQLite files created by v0.1.0 before its last commits declare the
// history id INTEGER PRIMARY KEY AUTOINCREMENT instead of INTEGER PRIMARY
// KEY. Both are version 1: ids still increase, AUTOINCREMENT only also
// keeps SQLite from reusing the ids of deleted newest rows (which nothing
// here relies on) at the price of a bookkeeping write per insert. Such
// files keep their definition.

type v1Result struct {
	InvocationID entities.Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	ResultData   entities.Blob `gorm:"column:result_data;not null"`
}

type v1Exception struct {
	InvocationID  entities.Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	ExceptionData entities.Blob `gorm:"column:exception_data;not null"`
}

type v1Invocation struct {
	InvocationID        entities.Key  `gorm:"column:invocation_id;primaryKey;size:255"`
	CallIDKey           entities.Key  `gorm:"column:call_id_key;not null;size:512"`
	TaskIDKey           entities.Key  `gorm:"column:task_id_key;not null;size:255"`
	ArgumentsID         entities.Key  `gorm:"column:arguments_id;not null;size:255"`
	SerializedArguments entities.Text `gorm:"column:serialized_arguments;not null"`
	ParentInvocationID  entities.Key  `gorm:"column:parent_invocation_id;not null;size:255;index:,composite:parent"`
	WorkflowID          entities.Key  `gorm:"column:workflow_id;not null;size:255;index:,composite:workflow"`
	WorkflowTypeKey     entities.Key  `gorm:"column:workflow_type_key;not null;size:255;index:,composite:workflow_type"`
	ParentWorkflowID    entities.Key  `gorm:"column:parent_workflow_id;not null;size:255"`
}

type v1RunnerContext struct {
	RunnerID    entities.Key `gorm:"column:runner_id;primaryKey;size:255"`
	RunnerCls   entities.Key `gorm:"column:runner_cls;not null;size:255"`
	ParentCtxID entities.Key `gorm:"column:parent_ctx_id;not null;size:255"`
	PID         int64        `gorm:"column:pid;not null"`
	Hostname    entities.Key `gorm:"column:hostname;not null;size:255"`
	ThreadID    int64        `gorm:"column:thread_id;not null"`
}

type v1History struct {
	ID               entities.Serial `gorm:"column:id;primaryKey;autoIncrement;index:,composite:time,priority:2"`
	InvocationID     entities.Key    `gorm:"column:invocation_id;not null;size:255;index:,unique,composite:entry,priority:1"`
	HistoryTimestamp int64           `gorm:"column:history_timestamp;not null;index:,unique,composite:entry,priority:2;index:,composite:time,priority:1"`
	HistoryStatus    entities.Key    `gorm:"column:history_status;not null;size:32;index:,unique,composite:entry,priority:3"`
	HistoryJSON      entities.Text   `gorm:"column:history_json;not null"`
}

type v1Workflow struct {
	WorkflowID       entities.Key `gorm:"column:workflow_id;primaryKey;size:255"`
	WorkflowTypeKey  entities.Key `gorm:"column:workflow_type_key;not null;size:255;index:,composite:type"`
	ParentWorkflowID entities.Key `gorm:"column:parent_workflow_id;not null;size:255"`
}

type v1AppInfo struct {
	AppID       entities.Key  `gorm:"column:app_id;primaryKey;size:255"`
	AppInfoJSON entities.Text `gorm:"column:app_info_json;not null"`
}

type v1WorkflowData struct {
	WorkflowID entities.Key  `gorm:"column:workflow_id;primaryKey;size:255"`
	DataKey    entities.Key  `gorm:"column:data_key;primaryKey;size:255"`
	DataValue  entities.Blob `gorm:"column:data_value;not null"`
}

type v1WorkflowSubInvocation struct {
	ParentWorkflowID entities.Key `gorm:"column:parent_workflow_id;primaryKey;size:255"`
	SubInvocationID  entities.Key `gorm:"column:sub_invocation_id;primaryKey;size:255"`
}

// v1Table is a table of version 1: its entities name, frozen model and
// the names of its indexes in the model's tags.
type v1Table struct {
	model   string
	value   any
	indexes []string
}

// v1Tables lists the tables of version 1 in the order v0.1.0 created them.
var v1Tables = []v1Table{
	{"Result", &v1Result{}, nil},
	{"Exception", &v1Exception{}, nil},
	{"Invocation", &v1Invocation{}, []string{"parent", "workflow", "workflow_type"}},
	{"RunnerContext", &v1RunnerContext{}, nil},
	{"History", &v1History{}, []string{"entry", "time"}},
	{"Workflow", &v1Workflow{}, []string{"type"}},
	{"AppInfo", &v1AppInfo{}, nil},
	{"WorkflowData", &v1WorkflowData{}, nil},
	{"WorkflowSubInvocation", &v1WorkflowSubInvocation{}, nil},
}

// v1IntegerColumns are the columns version 1 declares as integers; pynenc's
// own SQLite schema, which has the same table names, stores the timestamp
// as REAL: a database with that table is not version 1.
var v1IntegerColumns = map[string][]string{
	"RunnerContext": {"pid", "thread_id"},
	"History":       {"id", "history_timestamp"},
}

func initial() Migration {
	m := Migration{
		Version: 1,
		Name:    "initial",
		Description: "The schema of v0.1.0: results, exceptions, invocations, runner contexts, " +
			"history, workflows, app info, workflow data and workflow sub-invocations. " +
			"A database v0.1.0 created is recognized and recorded as this version.",
		MinCompatible: 1,
	}
	for _, tbl := range v1Tables {
		m.Steps = append(m.Steps, createTable(tbl.model, tbl.value, func(db *gorm.DB, t entities.Tables) error {
			if diffs := diffV1Table(db, t, tbl); len(diffs) > 0 {
				return fmt.Errorf("table %s exists but is not the table of version 1: %s", t.Name(tbl.model), strings.Join(diffs, "; "))
			}
			return nil
		}))
		for _, idx := range tbl.indexes {
			m.Steps = append(m.Steps, createIndex(tbl.model, tbl.value, idx))
		}
	}
	return m
}

// Version1Tables reports which tables of version 1 exist: none, all, or
// some (the names of the missing ones).
func Version1Tables(db *gorm.DB, t entities.Tables) (present, missing []string) {
	for _, tbl := range v1Tables {
		name := t.Name(tbl.model)
		if db.Migrator().HasTable(name) {
			present = append(present, name)
		} else {
			missing = append(missing, name)
		}
	}
	return present, missing
}

// DiffVersion1 compares the app's tables with version 1 and returns every
// difference, in words ("table x: missing column y"); none means the
// tables are version 1. It reads the database's catalog and nothing else.
// Extra indexes are not differences: an operator may have added one.
func DiffVersion1(db *gorm.DB, t entities.Tables) []string {
	var diffs []string
	for _, tbl := range v1Tables {
		diffs = append(diffs, diffV1Table(db, t, tbl)...)
	}
	return diffs
}

// diffV1Table compares one table with version 1.
func diffV1Table(db *gorm.DB, t entities.Tables, tbl v1Table) []string {
	name := t.Name(tbl.model)
	if !db.Migrator().HasTable(name) {
		return []string{"table " + name + " is missing"}
	}
	s, err := parse(db, name, tbl.value)
	if err != nil {
		return []string{fmt.Sprintf("table %s: %v", name, err)}
	}
	var diffs []string
	bad := func(format string, args ...any) {
		diffs = append(diffs, "table "+name+": "+fmt.Sprintf(format, args...))
	}
	cols, err := db.Migrator().ColumnTypes(name)
	if err != nil {
		return []string{fmt.Sprintf("table %s: read columns: %v", name, err)}
	}
	have := map[string]gorm.ColumnType{}
	for _, c := range cols {
		have[c.Name()] = c
	}
	var want []string
	for _, f := range s.Fields {
		want = append(want, f.DBName)
		c, ok := have[f.DBName]
		if !ok {
			bad("missing column %s", f.DBName)
			continue
		}
		if pk, ok := c.PrimaryKey(); ok && pk != f.PrimaryKey {
			bad("column %s: primary key %t, want %t", f.DBName, pk, f.PrimaryKey)
		}
		if nullable, ok := c.Nullable(); ok && nullable && f.NotNull {
			bad("column %s accepts NULL", f.DBName)
		}
	}
	for _, c := range cols {
		if !slices.Contains(want, c.Name()) {
			bad("unexpected column %s", c.Name())
		}
	}
	for _, col := range v1IntegerColumns[tbl.model] {
		if c, ok := have[col]; ok && !strings.Contains(strings.ToLower(c.DatabaseTypeName()), "int") {
			bad("column %s is %s, want an integer", col, c.DatabaseTypeName())
		}
	}
	indexes, err := db.Migrator().GetIndexes(name)
	if err != nil {
		return append(diffs, fmt.Sprintf("table %s: read indexes: %v", name, err))
	}
	for _, idx := range s.ParseIndexes() {
		var cols []string
		for _, f := range idx.Fields {
			cols = append(cols, f.DBName)
		}
		i := slices.IndexFunc(indexes, func(x gorm.Index) bool { return x.Name() == idx.Name })
		if i < 0 {
			bad("missing index %s (%s)", idx.Name, strings.Join(cols, ", "))
			continue
		}
		// Compared as sets: GORM's Postgres migrator lists an index's
		// columns in table order, not index order.
		if got := indexes[i].Columns(); !sameSet(got, cols) {
			bad("index %s is on (%s), want (%s)", idx.Name, strings.Join(got, ", "), strings.Join(cols, ", "))
		}
		if unique, ok := indexes[i].Unique(); ok && unique != (idx.Class == "UNIQUE") {
			bad("index %s: unique %t, want %t", idx.Name, unique, idx.Class == "UNIQUE")
		}
	}
	return diffs
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
