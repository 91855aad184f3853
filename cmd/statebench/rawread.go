package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"iter"
	"time"

	"github.com/taskstate/statebackend/state"
)

// The reads of rawStore.

// Invocation reads one invocation; a missing one is state.ErrNotFound.
func (r *rawStore) Invocation(ctx context.Context, id state.InvocationID) (state.Invocation, error) {
	if err := id.Validate("id"); err != nil {
		return state.Invocation{}, err
	}
	ctx, err := r.keyed(ctx)
	if err != nil {
		return state.Invocation{}, err
	}
	rows, err := r.getInv.QueryContext(ctx, string(id))
	if err != nil {
		return state.Invocation{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return state.Invocation{}, err
		}
		return state.Invocation{}, state.NotFound("invocation", string(id))
	}
	var taskKey, argsID, parent, wfID, wfType, parentWf string
	var args sql.RawBytes
	if err := rows.Scan(&taskKey, &argsID, &args, &parent, &wfID, &wfType, &parentWf); err != nil {
		return state.Invocation{}, err
	}
	task, err := state.ParseTaskID(taskKey)
	if err != nil {
		return state.Invocation{}, err
	}
	typ, err := state.ParseTaskID(wfType)
	if err != nil {
		return state.Invocation{}, err
	}
	m := map[string]string{}
	if err := json.Unmarshal(args, &m); err != nil {
		return state.Invocation{}, err
	}
	if m == nil {
		m = map[string]string{}
	}
	return state.Invocation{
		ID:                 id,
		CallID:             state.CallID{Task: task, ArgsID: argsID},
		Arguments:          m,
		Workflow:           state.WorkflowIdentity{WorkflowID: state.InvocationID(wfID), WorkflowType: typ, ParentWorkflowID: state.InvocationID(parentWf)},
		ParentInvocationID: state.InvocationID(parent),
	}, rows.Close()
}

// History returns the records of id by timestamp, then insertion.
func (r *rawStore) History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	ctx, err := r.keyed(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.getHist.QueryContext(ctx, string(id))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]state.InvocationHistory, 0, historyPerInv)
	keys := make([]historyKey, 0, 8)
	var doc sql.RawBytes
	var k historyKey
	for rows.Next() {
		if err := rows.Scan(&k.id, &k.ts, &doc); err != nil {
			return nil, err
		}
		keys = append(keys, k)
		out = append(out, state.InvocationHistory{})
		if err := out[len(out)-1].UnmarshalJSON(doc); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Order by timestamp, then insertion (id): an insertion sort, as rows
	// mostly come in that order already.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && (keys[j].ts < keys[j-1].ts || keys[j].ts == keys[j-1].ts && keys[j].id < keys[j-1].id); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// historyKey is the (timestamp, insertion) order of a history row.
type historyKey struct{ ts, id int64 }

// HistoryInTimeRange yields the records in [start, end] in batches,
// ascending by (timestamp, insertion), with keyset pagination.
func (r *rawStore) HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationHistory, error] {
	return func(yield func([]state.InvocationHistory, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		var curTS, curID int64
		started := false
		for {
			var rows *sql.Rows
			var err error
			if started {
				rows, err = r.histNext.QueryContext(ctx, curTS, hi, curTS, curID, batchSize)
			} else {
				rows, err = r.histFirst.QueryContext(ctx, lo, hi, batchSize)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			batch := make([]state.InvocationHistory, 0, batchSize)
			var doc sql.RawBytes
			for rows.Next() {
				if err = rows.Scan(&curID, &curTS, &doc); err != nil {
					break
				}
				batch = append(batch, state.InvocationHistory{})
				if err = batch[len(batch)-1].UnmarshalJSON(doc); err != nil {
					break
				}
			}
			if err == nil {
				err = rows.Err()
			}
			_ = rows.Close()
			if err != nil {
				yield(nil, err)
				return
			}
			if len(batch) == 0 {
				return
			}
			if !yield(batch, nil) || len(batch) < batchSize {
				return
			}
			started = true
		}
	}
}

// InvocationIDsInTimeRange yields, ascending and once each, the ids with a
// history record in [start, end], in batches.
func (r *rawStore) InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationID, error] {
	return func(yield func([]state.InvocationID, error) bool) {
		if err := state.ValidateTimeRange(start, end, batchSize); err != nil {
			yield(nil, err)
			return
		}
		lo, hi := state.ToMicros(start), state.ToMicros(end)
		after := ""
		for {
			rows, err := r.idsPage.QueryContext(ctx, lo, hi, after, batchSize)
			if err != nil {
				yield(nil, err)
				return
			}
			batch := make([]state.InvocationID, 0, batchSize)
			var id string
			for rows.Next() {
				if err = rows.Scan(&id); err != nil {
					break
				}
				batch = append(batch, state.InvocationID(id))
			}
			if err == nil {
				err = rows.Err()
			}
			_ = rows.Close()
			if err != nil {
				yield(nil, err)
				return
			}
			if len(batch) == 0 {
				return
			}
			if !yield(batch, nil) || len(batch) < batchSize {
				return
			}
			after = string(batch[len(batch)-1])
		}
	}
}

// Result returns the result of id; a missing one is state.ErrNotFound.
func (r *rawStore) Result(ctx context.Context, id state.InvocationID) ([]byte, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	ctx, err := r.keyed(ctx)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = r.getRes.QueryRowContext(ctx, string(id)).Scan(&data)
	if err == sql.ErrNoRows {
		return nil, state.NotFound("result of invocation", string(id))
	}
	if data == nil && err == nil {
		data = []byte{}
	}
	return data, err
}
