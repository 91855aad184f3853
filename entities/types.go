package entities

import (
	"database/sql/driver"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// ColumnTypesSetting is the gorm setting (db.Set) under which a ColumnTypes
// value tells the migrator the DDL of each column kind.
const ColumnTypesSetting = "statebackend:column_types"

// ColumnTypes gives the DDL type of each column kind for one dialect. Key may
// contain one %d, replaced by the column's size. An empty string leaves the
// choice to the GORM dialector.
type ColumnTypes struct {
	Key  string // sized identifiers, compared byte for byte and case-sensitively
	Text string // unbounded UTF-8 text (JSON documents, serialized arguments)
	Blob string // opaque payloads of at least 64 MiB
	// Serial is an auto-assigned, increasing integer primary key; it must
	// include the primary key clause when it gives a type at all.
	Serial string
}

// Key is an identifier column: sized, indexed, compared byte for byte.
type Key string

// Text is an unbounded UTF-8 text column.
type Text string

// Blob is an opaque binary column holding at least 64 MiB.
type Blob []byte

// Value implements driver.Valuer. An empty or nil Blob is the empty value,
// never NULL: GORM would otherwise bind an empty named byte slice as NULL.
func (b Blob) Value() (driver.Value, error) {
	if b == nil {
		return []byte{}, nil
	}
	return []byte(b), nil
}

// Serial is an auto-assigned, increasing integer primary key.
type Serial int64

// GormDBDataType implements gorm's GormDBDataTypeInterface.
func (Serial) GormDBDataType(db *gorm.DB, _ *schema.Field) string { return columnTypes(db).Serial }

// GormDBDataType implements gorm's GormDBDataTypeInterface.
func (Key) GormDBDataType(db *gorm.DB, field *schema.Field) string {
	t := columnTypes(db).Key
	if t == "" {
		return ""
	}
	return fmt.Sprintf(t, field.Size)
}

// GormDBDataType implements gorm's GormDBDataTypeInterface.
func (Text) GormDBDataType(db *gorm.DB, _ *schema.Field) string { return columnTypes(db).Text }

// GormDBDataType implements gorm's GormDBDataTypeInterface.
func (Blob) GormDBDataType(db *gorm.DB, _ *schema.Field) string { return columnTypes(db).Blob }

func columnTypes(db *gorm.DB) ColumnTypes {
	if v, ok := db.Get(ColumnTypesSetting); ok {
		if ct, ok := v.(ColumnTypes); ok {
			return ct
		}
	}
	return ColumnTypes{}
}
