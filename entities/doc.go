// Package entities holds the GORM models of the state backend: one per table
// of pynenc's SQLite state backend, with its table and column names,
// the indexes the operations need, and the app-id table prefix.
//
// Entities name no database. Column types that must differ between dialects
// (byte-exact identifier collation, payload sizes) are declared as kinds (Key,
// Text, Blob) whose DDL the caller supplies through the ColumnTypesSetting
// setting; the statebackend package does that from the Dialect its database
// package declares.
package entities
