package main

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// source is where copy and import-pynenc read state: the tables of an app
// written by this library (libSource), or pynenc's own SQLite file
// (pynencSource). Rows come as values in the order of tableSpec.cols.
type source interface {
	// page returns up to limit rows of t whose key follows after (nil: from
	// the first), in ascending key order.
	page(ctx context.Context, t *tableSpec, after []any, limit int) ([][]any, error)
	// count returns the number of rows of t.
	count(ctx context.Context, t *tableSpec) (int64, error)
	// countHistory returns the number of history records with a timestamp
	// before fromMicros (all of them when fromMicros is maxMicros).
	countHistory(ctx context.Context, beforeMicros int64) (int64, error)
	// history yields the history records with a timestamp at or after
	// fromMicros in the order to store them: ascending timestamp, equal
	// timestamps in insertion order.
	history(ctx context.Context, fromMicros int64, batch int) iter.Seq2[[]statebackend.InvocationHistory, error]
}

// Bounds of the timestamps a backend stores (years 1-9999, UTC).
var (
	minTime   = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime   = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	minMicros = state.ToMicros(minTime)
	maxMicros = state.ToMicros(maxTime)
)

// libSource reads the tables of an app written by this library: rows in
// key order through the inspection handle, history through the Backend.
type libSource struct{ cn *conn }

func (s libSource) page(ctx context.Context, t *tableSpec, after []any, limit int) ([][]any, error) {
	q := s.cn.db.WithContext(ctx).Table(s.cn.tables.Name(t.model)).Select(t.cols)
	if after != nil {
		cond, args := keyAfter(t.cols[:t.nkeys], after)
		q = q.Where(cond, args...)
	}
	rows, err := q.Order(strings.Join(t.cols[:t.nkeys], ", ")).Limit(limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.cn.tables.Name(t.model), err)
	}
	return scanRows(rows, t.kinds)
}

// pageRange returns the rows of t with a key in [first, last], in key
// order.
func (s libSource) pageRange(ctx context.Context, t *tableSpec, first, last []any) ([][]any, error) {
	keys := t.cols[:t.nkeys]
	lo, loArgs := keyCompare(keys, first, ">=")
	hi, hiArgs := keyCompare(keys, last, "<=")
	rows, err := s.cn.db.WithContext(ctx).Table(s.cn.tables.Name(t.model)).Select(t.cols).
		Where(lo, loArgs...).Where(hi, hiArgs...).Order(strings.Join(keys, ", ")).Rows()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.cn.tables.Name(t.model), err)
	}
	return scanRows(rows, t.kinds)
}

func (s libSource) count(ctx context.Context, t *tableSpec) (int64, error) {
	return countRows(ctx, s.cn.db, s.cn.tables.Name(t.model))
}

func (s libSource) countHistory(ctx context.Context, beforeMicros int64) (int64, error) {
	var n int64
	err := s.cn.db.WithContext(ctx).Table(s.cn.tables.Name("History")).
		Where("history_timestamp < ?", beforeMicros).Count(&n).Error
	return n, err
}

// maxHistoryMicros returns the newest history timestamp; ok is false for
// an empty history.
func (s libSource) maxHistoryMicros(ctx context.Context) (us int64, ok bool, err error) {
	var n sql.NullInt64
	err = s.cn.db.WithContext(ctx).Table(s.cn.tables.Name("History")).Select("MAX(history_timestamp)").Scan(&n).Error
	return n.Int64, n.Valid, err
}

func (s libSource) history(ctx context.Context, fromMicros int64, batch int) iter.Seq2[[]statebackend.InvocationHistory, error] {
	return s.cn.backend.HistoryInTimeRange(ctx, state.FromMicros(fromMicros), maxTime, batch)
}

// keyAfter returns the condition "key > after" on the columns keys
// (compared left to right) and its arguments.
func keyAfter(keys []string, after []any) (string, []any) {
	return keyCompare(keys, after, ">")
}

// keyCompare returns the condition "key op v" for a composite key compared
// column by column, left to right (op is >, >=, < or <=), in SQL every
// database runs.
func keyCompare(keys []string, v []any, op string) (string, []any) {
	strict := op[:1]
	if len(keys) == 1 {
		return keys[0] + " " + op + " ?", []any{v[0]}
	}
	rest, args := keyCompare(keys[1:], v[1:], op)
	return "(" + keys[0] + " " + strict + " ? OR (" + keys[0] + " = ? AND " + rest + "))",
		append([]any{v[0], v[0]}, args...)
}

// scanRows reads every row of rows as values of the given kinds, and
// closes rows. NULL reads as "", empty bytes or 0: pynenc writes NULL
// where the library writes "".
func scanRows(rows *sql.Rows, kinds []colKind) ([][]any, error) {
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(kinds))
		for i, k := range kinds {
			switch k {
			case kStr:
				dest[i] = new(sql.NullString)
			case kBytes:
				dest[i] = new([]byte)
			case kInt:
				dest[i] = new(sql.NullInt64)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		v := make([]any, len(kinds))
		for i, d := range dest {
			switch d := d.(type) {
			case *sql.NullString:
				v[i] = d.String
			case *[]byte:
				if *d == nil {
					*d = []byte{}
				}
				v[i] = *d
			case *sql.NullInt64:
				v[i] = d.Int64
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
