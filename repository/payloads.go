package repository

import (
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// SetResult stores the result of id, replacing any earlier one.
func (r Repo) SetResult(db *gorm.DB, id string, data []byte) error {
	return r.setPayload(db, resultsTable, id, data)
}

// Result returns the result of id; found is false when there is none.
func (r Repo) Result(db *gorm.DB, id string) (data []byte, found bool, err error) {
	return r.payload(db, resultsTable, id)
}

// SetException stores the exception of id, replacing any earlier one.
func (r Repo) SetException(db *gorm.DB, id string, data []byte) error {
	return r.setPayload(db, exceptionsTable, id, data)
}

// Exception returns the exception of id; found is false when there is none.
func (r Repo) Exception(db *gorm.DB, id string) (data []byte, found bool, err error) {
	return r.payload(db, exceptionsTable, id)
}

func (r Repo) setPayload(db *gorm.DB, t payloadTable, id string, data []byte) error {
	stmt, err := r.compile(db, t.model+".set", func(tx *gorm.DB) *gorm.DB {
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
	stmt, err := r.compile(db, t.model+".get", func(tx *gorm.DB) *gorm.DB {
		return tx.Table(r.Tables.Name(t.model)).Select(t.column).
			Where("invocation_id = ?", arg(0)).Limit(1).Find(&[]map[string]any{})
	})
	if err != nil {
		return nil, false, err
	}
	rows, err := stmt.query(db, id)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	if err := rows.Scan(&data); err != nil {
		return nil, false, err
	}
	return nonNil(data), true, rows.Err()
}

// nonNil returns b, or an empty non-nil slice for nil: a stored empty
// payload reads back as empty rather than nil, and is never written as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
