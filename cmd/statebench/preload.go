package main

import (
	"context"
	"strings"

	"github.com/taskstate/statebackend/state"
)

// preloadRows is the number of history rows per INSERT of the bulk load,
// preloadTx the number per transaction.
const (
	preloadRows = 250
	preloadTx   = 10000
)

// preloadHistory writes the history W2 would write, in the same order (so
// the same insertion ids), with multi-row inserts in a few transactions.
// It fills the tables read by W4, W6 and W8 when W2 is not run, fast enough
// for large N; it is never timed.
func preloadHistory(ctx context.Context, e *env, d *dataset) error {
	cols := "(invocation_id, history_timestamp, history_status, history_json)"
	q := e.sql.bind("INSERT INTO " + e.table("History") + " " + cols + " VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", preloadRows), ", "))
	stmt, err := e.db.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer stmt.Close()
	total := d.records()
	args := make([]any, 0, 4*preloadRows)
	for lo := 0; lo < total; lo += preloadTx {
		tx, err := e.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		txStmt := tx.StmtContext(ctx, stmt)
		for j := lo; j < min(lo+preloadTx, total); j++ {
			id, h := d.record(j)
			args = append(args, string(id), state.ToMicros(h.Timestamp), string(h.StatusRecord.Status), string(h.AppendJSON(nil)))
			if len(args) == cap(args) {
				if _, err := txStmt.ExecContext(ctx, args...); err != nil {
					_ = tx.Rollback()
					return err
				}
				args = args[:0]
			}
		}
		// The tail (fewer than preloadRows rows) goes one row at a time.
		for i := 0; i < len(args); i += 4 {
			if _, err := tx.ExecContext(ctx, e.sql.bind("INSERT INTO "+e.table("History")+" "+cols+" VALUES (?, ?, ?, ?)"), args[i:i+4]...); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		args = args[:0]
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
