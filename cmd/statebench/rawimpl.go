package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskstate/statebackend/state"
)

// rawStore implements the operations the workloads use with hand-written
// database/sql on the library's schema: statements prepared once and reused,
// one transaction per batch, the same validation, encodings and conflict
// rules as the library.
type rawStore struct {
	d  *sqlDialect
	db *sql.DB
	// writeMu serializes this process's writes on SQLite (one writer per
	// database), as the library does; nil on servers.
	writeMu *sync.Mutex
	retries atomic.Int64 // SQLITE_BUSY retries

	invTable, histTable, resTable string

	getInv, addHist, getHist, setRes, getRes *sql.Stmt
	histFirst, histNext, idsPage             *sql.Stmt

	mu      sync.Mutex
	upserts map[int]*sql.Stmt // invocation upserts by row count
}

var invocationCols = []string{
	"invocation_id", "call_id_key", "task_id_key", "arguments_id", "serialized_arguments",
	"parent_invocation_id", "workflow_id", "workflow_type_key", "parent_workflow_id",
}

// maxUpsertRows bounds the rows of one multi-row upsert (9 parameters each).
const maxUpsertRows = 500

func openRaw(ctx context.Context, e *env) (*rawStore, error) {
	db, err := e.openSQL()
	if err != nil {
		return nil, err
	}
	r := &rawStore{
		d: e.sql, db: db, upserts: map[int]*sql.Stmt{},
		invTable: e.table("Invocation"), histTable: e.table("History"), resTable: e.table("Result"),
	}
	if e.sql.name == "sqlite" && e.cfg.rawSerialize {
		r.writeMu = new(sync.Mutex)
	}
	h := r.histTable
	stmts := []struct {
		dst **sql.Stmt
		q   string
	}{
		{&r.getInv, "SELECT task_id_key, arguments_id, serialized_arguments, parent_invocation_id, " +
			"workflow_id, workflow_type_key, parent_workflow_id FROM " + r.invTable + " WHERE invocation_id = ?"},
		{&r.addHist, e.sql.upsert(h, []string{"invocation_id", "history_timestamp", "history_status", "history_json"},
			[]string{"invocation_id", "history_timestamp", "history_status"}, []string{"history_json"}, 1)},
		// Unordered: the records are ordered by (timestamp, id) in Go. An
		// ORDER BY would make SQLite mark the id parameter as one that may
		// change the plan, and recompile the statement on every call once
		// go-sqlite3 clears its bindings (as the library's statement notes).
		{&r.getHist, "SELECT id, history_timestamp, history_json FROM " + h + " WHERE invocation_id = ?"},
		{&r.setRes, e.sql.upsert(r.resTable, []string{"invocation_id", "result_data"},
			[]string{"invocation_id"}, []string{"result_data"}, 1)},
		{&r.getRes, "SELECT result_data FROM " + r.resTable + " WHERE invocation_id = ?"},
		// Keyset pagination over the (history_timestamp, id) index: the range
		// starts at the cursor's timestamp, so each page costs the same.
		{&r.histFirst, "SELECT id, history_timestamp, history_json FROM " + h +
			" WHERE history_timestamp >= ? AND history_timestamp <= ? ORDER BY history_timestamp, id LIMIT ?"},
		{&r.histNext, "SELECT id, history_timestamp, history_json FROM " + h +
			" WHERE history_timestamp >= ? AND history_timestamp <= ? AND (history_timestamp > ? OR id > ?)" +
			" ORDER BY history_timestamp, id LIMIT ?"},
		// Ids are never empty, so "> ''" starts at the first one. Each page
		// reads the (invocation_id, ...) index on from the last id, so a
		// full iteration reads it once (see sqlDialect.timeNoIndex).
		{&r.idsPage, "SELECT DISTINCT invocation_id FROM " + h + " WHERE " + e.sql.timeNoIndex + "history_timestamp >= ? AND " +
			e.sql.timeNoIndex + "history_timestamp <= ? AND invocation_id > ? ORDER BY invocation_id LIMIT ?"},
	}
	for _, s := range stmts {
		if *s.dst, err = db.PrepareContext(ctx, e.sql.bind(s.q)); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("prepare %q: %w", s.q, err)
		}
	}
	return r, nil
}

// Close closes the statements and the database handle.
func (r *rawStore) Close() error {
	for _, s := range []*sql.Stmt{r.getInv, r.addHist, r.getHist, r.setRes, r.getRes, r.histFirst, r.histNext, r.idsPage} {
		if s != nil {
			_ = s.Close()
		}
	}
	for _, s := range r.upserts {
		_ = s.Close()
	}
	return r.db.Close()
}

// keyed returns the context for a statement of a few rows by key: on
// SQLite, ctx checked now and then without its cancellation, which
// go-sqlite3 and database/sql pay for with a goroutine per statement (the
// library does the same, see dialect.Dialect.CostlyCancel); ctx itself on
// servers.
func (r *rawStore) keyed(ctx context.Context) (context.Context, error) {
	if r.writeMu == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// write runs fn under the SQLite writer lock, retrying lock contention
// (counted in r.retries).
func (r *rawStore) write(ctx context.Context, fn func() error) error {
	if r.writeMu != nil {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
	}
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt >= 8 || !r.d.busy(err) || ctx.Err() != nil {
			return err
		}
		r.retries.Add(1)
		time.Sleep(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// UpsertInvocations writes invs in one transaction (one statement when
// they fit), the last of a repeated id winning, in ascending id order.
func (r *rawStore) UpsertInvocations(ctx context.Context, invs []state.Invocation) error {
	if len(invs) == 0 {
		return nil
	}
	type row struct {
		inv  *state.Invocation
		args string
	}
	rows := make([]row, 0, len(invs))
	last := make(map[state.InvocationID]int, len(invs))
	for i := range invs {
		inv := &invs[i]
		if err := inv.Validate("invocations[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
		args := inv.Arguments
		if args == nil {
			args = map[string]string{}
		}
		enc, err := json.Marshal(args)
		if err != nil {
			return state.Invalid("Arguments", err.Error())
		}
		if j, ok := last[inv.ID]; ok {
			rows[j] = row{inv, string(enc)}
			continue
		}
		last[inv.ID] = len(rows)
		rows = append(rows, row{inv, string(enc)})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(string(a.inv.ID), string(b.inv.ID)) })

	args := make([]any, 0, len(invocationCols)*min(len(rows), maxUpsertRows))
	exec := func(q interface {
		ExecContext(context.Context, ...any) (sql.Result, error)
	}, part []row) error {
		args = args[:0]
		for _, rw := range part {
			inv := rw.inv
			args = append(args, string(inv.ID), inv.CallID.Key(), inv.CallID.Task.Key(), inv.CallID.ArgsID,
				rw.args, string(inv.ParentInvocationID), string(inv.Workflow.WorkflowID),
				inv.Workflow.WorkflowType.Key(), string(inv.Workflow.ParentWorkflowID))
		}
		_, err := q.ExecContext(ctx, args...)
		return err
	}
	return r.write(ctx, func() error {
		if len(rows) <= maxUpsertRows {
			stmt, err := r.upsertStmt(ctx, len(rows))
			if err != nil {
				return err
			}
			return exec(stmt, rows)
		}
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		for lo := 0; lo < len(rows); lo += maxUpsertRows {
			part := rows[lo:min(lo+maxUpsertRows, len(rows))]
			stmt, err := r.upsertStmt(ctx, len(part))
			if err != nil {
				return err
			}
			if err := exec(tx.StmtContext(ctx, stmt), part); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}

// upsertStmt returns the prepared upsert of n invocation rows.
func (r *rawStore) upsertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.upserts[n]; ok {
		return s, nil
	}
	q := r.d.upsert(r.invTable, invocationCols, invocationCols[:1], invocationCols[1:], n)
	s, err := r.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	r.upserts[n] = s
	return s, nil
}

// AddHistory adds h to each of ids: one statement for one id, else one
// transaction. A repeated (invocation, timestamp, status) replaces the
// stored document.
func (r *rawStore) AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error {
	if err := state.ValidateBatchIDs("ids", ids); err != nil {
		return err
	}
	if err := h.Validate("history"); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	ts, status := state.ToMicros(h.Timestamp), string(h.StatusRecord.Status)
	var buf [384]byte
	doc := func(id state.InvocationID) string {
		h.InvocationID = id
		return string(h.AppendJSON(buf[:0]))
	}
	if len(ids) == 1 {
		id, js := string(ids[0]), doc(ids[0])
		return r.write(ctx, func() error {
			ctx, err := r.keyed(ctx)
			if err != nil {
				return err
			}
			_, err = r.addHist.ExecContext(ctx, id, ts, status, js)
			return err
		})
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	docs := make([]string, len(ids))
	for i, id := range ids {
		docs[i] = doc(id)
	}
	return r.write(ctx, func() error {
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		stmt := tx.StmtContext(ctx, r.addHist)
		for i, id := range ids {
			if _, err := stmt.ExecContext(ctx, string(id), ts, status, docs[i]); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
}

// SetResult stores the result of id, replacing an earlier one.
func (r *rawStore) SetResult(ctx context.Context, id state.InvocationID, data []byte) error {
	if err := id.Validate("id"); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	return r.write(ctx, func() error {
		ctx, err := r.keyed(ctx)
		if err != nil {
			return err
		}
		_, err = r.setRes.ExecContext(ctx, string(id), data)
		return err
	})
}
