package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/taskstate/statebackend/state"
)

// The checks below run after a workload's timed part and read the tables
// with plain SQL, independently of the implementation measured, so a fast
// path that skips work cannot report a good number.

// checkCount fails unless the table of model holds want rows.
func checkCount(ctx context.Context, e *env, model string, want int) error {
	got, err := e.count(ctx, model)
	if err != nil {
		return fmt.Errorf("count %s: %w", model, err)
	}
	if got != want {
		return fmt.Errorf("%s holds %d rows, want %d", e.table(model), got, want)
	}
	return nil
}

// checkInvocations checks the invocation rows W1 wrote.
func checkInvocations(ctx context.Context, e *env, d *dataset) error {
	if err := checkCount(ctx, e, "Invocation", d.n); err != nil {
		return err
	}
	q := e.sql.bind("SELECT call_id_key, serialized_arguments, parent_invocation_id, workflow_id, workflow_type_key FROM " +
		e.table("Invocation") + " WHERE invocation_id = ?")
	for _, i := range d.sample() {
		inv := d.invs[i]
		var call, args, parent, wf, wfType string
		if err := e.db.QueryRowContext(ctx, q, string(inv.ID)).Scan(&call, &args, &parent, &wf, &wfType); err != nil {
			return fmt.Errorf("invocation %q: %w", inv.ID, err)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(args), &m); err != nil {
			return fmt.Errorf("invocation %q arguments %q: %w", inv.ID, args, err)
		}
		if call != inv.CallID.Key() || !maps.Equal(m, inv.Arguments) || parent != string(inv.ParentInvocationID) ||
			wf != string(inv.Workflow.WorkflowID) || wfType != inv.Workflow.WorkflowType.Key() {
			return fmt.Errorf("invocation %q stored as %q %q %q %q %q", inv.ID, call, args, parent, wf, wfType)
		}
	}
	return nil
}

// checkHistory checks the history rows W2 or W7 wrote: the count, and for a
// sample of invocations the exact documents in order.
func checkHistory(ctx context.Context, e *env, d *dataset) error {
	if err := checkCount(ctx, e, "History", d.records()); err != nil {
		return err
	}
	q := e.sql.bind("SELECT history_timestamp, history_status, history_json FROM " + e.table("History") +
		" WHERE invocation_id = ? ORDER BY history_timestamp, id")
	for _, i := range d.sample() {
		rows, err := e.db.QueryContext(ctx, q, string(d.ids[i]))
		if err != nil {
			return err
		}
		k := 0
		for rows.Next() {
			var ts int64
			var status, doc string
			if err := rows.Scan(&ts, &status, &doc); err != nil {
				rows.Close()
				return err
			}
			if k < historyPerInv {
				_, h := d.record(i*historyPerInv + k)
				want := string(h.AppendJSON(nil))
				if ts != state.ToMicros(h.Timestamp) || status != string(h.StatusRecord.Status) || doc != want {
					rows.Close()
					return fmt.Errorf("history %d of %q stored as %d %s %s, want %s", k, d.ids[i], ts, status, doc, want)
				}
			}
			k++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if k != historyPerInv {
			return fmt.Errorf("%q has %d history rows, want %d", d.ids[i], k, historyPerInv)
		}
	}
	return nil
}

// checkResults checks the results W5 wrote.
func checkResults(ctx context.Context, e *env, d *dataset) error {
	if err := checkCount(ctx, e, "Result", d.n); err != nil {
		return err
	}
	q := e.sql.bind("SELECT result_data FROM " + e.table("Result") + " WHERE invocation_id = ?")
	for _, i := range d.sample() {
		var data []byte
		if err := e.db.QueryRowContext(ctx, q, string(d.ids[i])).Scan(&data); err != nil {
			return fmt.Errorf("result of %q: %w", d.ids[i], err)
		}
		if string(data) != string(d.result(i)) {
			return fmt.Errorf("result of %q stored as %q", d.ids[i], data)
		}
	}
	return nil
}

// checkReadInvocations compares what the store reads back for a sample
// with the dataset, field by field.
func checkReadInvocations(ctx context.Context, st store, d *dataset) error {
	for _, i := range d.sample() {
		got, err := st.Invocation(ctx, d.ids[i])
		if err != nil {
			return err
		}
		want := d.invs[i]
		if got.ID != want.ID || got.CallID != want.CallID || !maps.Equal(got.Arguments, want.Arguments) ||
			got.Workflow != want.Workflow || got.ParentInvocationID != want.ParentInvocationID {
			return fmt.Errorf("invocation %q read back as %+v, want %+v", want.ID, got, want)
		}
	}
	return nil
}

// checkReadHistory compares what the store reads back for a sample with the
// dataset.
func checkReadHistory(ctx context.Context, st store, d *dataset) error {
	for _, i := range d.sample() {
		got, err := st.History(ctx, d.ids[i])
		if err != nil {
			return err
		}
		if len(got) != historyPerInv {
			return fmt.Errorf("history of %q: %d records", d.ids[i], len(got))
		}
		for k := range got {
			_, want := d.record(i*historyPerInv + k)
			if !sameHistory(got[k], want) {
				return fmt.Errorf("history %d of %q read back as %+v, want %+v", k, d.ids[i], got[k], want)
			}
		}
	}
	return nil
}

func sameHistory(a, b state.InvocationHistory) bool {
	return a.InvocationID == b.InvocationID && a.Timestamp.Equal(b.Timestamp) &&
		a.StatusRecord.Status == b.StatusRecord.Status && a.StatusRecord.RunnerID == b.StatusRecord.RunnerID &&
		a.StatusRecord.Timestamp.Equal(b.StatusRecord.Timestamp) &&
		a.RunnerContextID == b.RunnerContextID && a.RegisteredByInvID == b.RegisteredByInvID
}
