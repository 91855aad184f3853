package repository

import (
	"database/sql"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// payloadTable describes a table of opaque payloads keyed by invocation id:
// results or exceptions.
type payloadTable struct {
	model  string // entities type name
	column string // the payload column
}

var (
	resultsTable    = payloadTable{model: "Result", column: "result_data"}
	exceptionsTable = payloadTable{model: "Exception", column: "exception_data"}
)

// SetResult stores row, replacing the earlier result of its invocation.
func (r Repo) SetResult(db *gorm.DB, row entities.Result) error {
	return r.setPayload(db, resultsTable, string(row.InvocationID), row.ResultData)
}

// Result returns the result of id; found is false when there is none.
func (r Repo) Result(db *gorm.DB, id string) (row entities.Result, found bool, err error) {
	data, found, err := r.payload(db, resultsTable, id)
	return entities.Result{InvocationID: entities.Key(id), ResultData: data}, found, err
}

// SetException stores row, replacing the earlier exception of its
// invocation.
func (r Repo) SetException(db *gorm.DB, row entities.Exception) error {
	return r.setPayload(db, exceptionsTable, string(row.InvocationID), row.ExceptionData)
}

// Exception returns the exception of id; found is false when there is none.
func (r Repo) Exception(db *gorm.DB, id string) (row entities.Exception, found bool, err error) {
	data, found, err := r.payload(db, exceptionsTable, id)
	return entities.Exception{InvocationID: entities.Key(id), ExceptionData: data}, found, err
}

func (r Repo) setPayload(db *gorm.DB, t payloadTable, id string, data entities.Blob) error {
	stmt, err := r.statement(db, stmtKey{name: t.model + ".set"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name(t.model)).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "invocation_id"}},
			DoUpdates: clause.AssignmentColumns([]string{t.column}),
		}).Create(map[string]any{"invocation_id": arg(0), t.column: arg(1)})
	})
	if err != nil {
		return err
	}
	_, err = stmt.exec(db, id, nonNil(data))
	return err
}

func (r Repo) payload(db *gorm.DB, t payloadTable, id string) (data []byte, found bool, err error) {
	stmt, err := r.statement(db, stmtKey{name: t.model + ".get"}, func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name(t.model)).Select(t.column).
			Where("invocation_id = ?", arg(0)).Find(&[]map[string]any{})
	})
	if err != nil {
		return nil, false, err
	}
	found, err = stmt.first(db, func(rows *sql.Rows) error { return rows.Scan(&data) }, id)
	return nonNil(data), found, err
}

// nonNil returns b, or an empty non-nil slice for nil: a stored empty
// payload reads back as empty rather than nil, and is never written as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
