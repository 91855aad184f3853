package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// ctx returns a context cancelled when the test ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// baseTime is a fixed instant with a non-zero microsecond part, so tests
// catch backends that drop sub-second precision.
var baseTime = time.Date(2026, 1, 1, 12, 0, 0, 123456000, time.UTC)

// task returns a TaskID in module "conformance.tasks".
func task(name string) state.TaskID {
	return state.TaskID{Module: "conformance.tasks", FuncName: name}
}

// topLevel returns a top-level invocation of fn with the given arguments
// (nil for none): it starts its own workflow.
func topLevel(id state.InvocationID, fn string, args map[string]string) state.Invocation {
	tk := task(fn)
	argsID := state.NoArgs
	if len(args) > 0 {
		argsID = "args-" + string(id)
	}
	return state.Invocation{
		ID:        id,
		CallID:    state.CallID{Task: tk, ArgsID: argsID},
		Arguments: args,
		Workflow:  state.WorkflowIdentity{WorkflowID: id, WorkflowType: tk},
	}
}

// child returns an invocation of fn created by parent, in parent's workflow.
func child(id state.InvocationID, fn string, parent state.Invocation) state.Invocation {
	inv := topLevel(id, fn, nil)
	inv.Workflow = parent.Workflow
	inv.ParentInvocationID = parent.ID
	return inv
}

// record returns a history record with status s at ts.
func record(s state.Status, ts time.Time) state.InvocationHistory {
	return state.InvocationHistory{
		Timestamp:       ts,
		StatusRecord:    state.StatusRecord{Status: s, RunnerID: "runner-1", Timestamp: ts},
		RunnerContextID: "runner-1",
	}
}

// mustUpsert upserts invs or fails the test.
func mustUpsert(t *testing.T, b state.Backend, invs ...state.Invocation) {
	t.Helper()
	if err := b.UpsertInvocations(ctx(t), invs); err != nil {
		t.Fatalf("UpsertInvocations: %v", err)
	}
}

// mustAddHistory adds h to ids or fails the test.
func mustAddHistory(t *testing.T, b state.Backend, h state.InvocationHistory, ids ...state.InvocationID) {
	t.Helper()
	if err := b.AddHistory(ctx(t), ids, h); err != nil {
		t.Fatalf("AddHistory(%v, %s at %s): %v", ids, h.StatusRecord.Status, h.Timestamp, err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// Helpers of the invocations, history, timerange and payloads groups.

// wantIDs fails the test unless got holds exactly want, in order; nil and
// empty are the same.
func wantIDs(t *testing.T, what string, got, want []state.InvocationID) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\nwant %q", what, got, want)
	}
}

// mustInvocation returns the invocation id or fails the test.
func mustInvocation(t *testing.T, b state.Backend, id state.InvocationID) state.Invocation {
	t.Helper()
	inv, err := b.Invocation(ctx(t), id)
	if err != nil {
		t.Fatalf("Invocation(%q): %v", id, err)
	}
	return inv
}

// wantInvocation fails the test unless got equals want in every field. An
// invocation stored without arguments must read back with an empty, non-nil
// map, so a nil want.Arguments expects exactly that.
func wantInvocation(t *testing.T, what string, got, want state.Invocation) {
	t.Helper()
	if got.Arguments == nil {
		t.Fatalf("%s: Arguments is nil, want a non-nil map (%+v)", what, got)
	}
	if want.Arguments == nil {
		want.Arguments = map[string]string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\nwant %+v", what, got, want)
	}
}

// stored returns h as a backend returns it once added for id: carrying id,
// with both timestamps in UTC and truncated to the microsecond.
func stored(id state.InvocationID, h state.InvocationHistory) state.InvocationHistory {
	h.InvocationID = id
	h.Timestamp = h.Timestamp.UTC().Truncate(time.Microsecond)
	h.StatusRecord.Timestamp = h.StatusRecord.Timestamp.UTC().Truncate(time.Microsecond)
	return h
}

// sameRecord reports whether got equals want field by field, its timestamps
// the same instants as want's and in UTC.
func sameRecord(got, want state.InvocationHistory) bool {
	utc := func(g, w time.Time) bool { return g.Equal(w) && g.Location() == time.UTC }
	return got.InvocationID == want.InvocationID &&
		utc(got.Timestamp, want.Timestamp) &&
		got.StatusRecord.Status == want.StatusRecord.Status &&
		got.StatusRecord.RunnerID == want.StatusRecord.RunnerID &&
		utc(got.StatusRecord.Timestamp, want.StatusRecord.Timestamp) &&
		got.RunnerContextID == want.RunnerContextID &&
		got.RegisteredByInvID == want.RegisteredByInvID
}

// describeRecords formats records one per line for failure messages.
func describeRecords(hs []state.InvocationHistory) string {
	if len(hs) == 0 {
		return "  (none)"
	}
	var sb strings.Builder
	for i, h := range hs {
		fmt.Fprintf(&sb, "  [%d] %q %s at %s; status record: runner %q at %s; context %q; registered by %q\n",
			i, h.InvocationID, h.StatusRecord.Status, h.Timestamp, h.StatusRecord.RunnerID,
			h.StatusRecord.Timestamp, h.RunnerContextID, h.RegisteredByInvID)
	}
	return sb.String()
}

// wantHistory fails the test unless got holds exactly the records of want,
// in order (see sameRecord).
func wantHistory(t *testing.T, what string, got, want []state.InvocationHistory) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameRecord(got[i], want[i])
	}
	if !ok {
		t.Fatalf("%s: got %d records, want %d\ngot:\n%swant:\n%s",
			what, len(got), len(want), describeRecords(got), describeRecords(want))
	}
}

// mustHistory returns the history of id or fails the test.
func mustHistory(t *testing.T, b state.Backend, id state.InvocationID) []state.InvocationHistory {
	t.Helper()
	hs, err := b.History(ctx(t), id)
	if err != nil {
		t.Fatalf("History(%q): %v", id, err)
	}
	return hs
}

// drain runs a time-range iterator to its end and returns its batches. It
// fails the test on an error, an empty batch or a batch over batchSize.
func drain[T any](t *testing.T, what string, seq iter.Seq2[[]T, error], batchSize int) [][]T {
	t.Helper()
	var batches [][]T
	for batch, err := range seq {
		if err != nil {
			t.Fatalf("%s: error after %d batches: %v", what, len(batches), err)
		}
		if len(batch) == 0 || len(batch) > batchSize {
			t.Fatalf("%s: batch %d has %d items, want 1..%d", what, len(batches), len(batch), batchSize)
		}
		batches = append(batches, batch)
	}
	return batches
}

// flatten concatenates batches.
func flatten[T any](batches [][]T) []T {
	var all []T
	for _, b := range batches {
		all = append(all, b...)
	}
	return all
}

// batchSizes returns the length of each batch.
func batchSizes[T any](batches [][]T) []int {
	sizes := make([]int, len(batches))
	for i, b := range batches {
		sizes[i] = len(b)
	}
	return sizes
}

// wantBytes fails the test unless got equals want byte for byte; the message
// names the first difference rather than printing large payloads.
func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	at := func(b []byte) string {
		return fmt.Sprintf("%q", b[i:min(i+16, len(b))])
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d: got %s, want %s",
		what, len(got), len(want), i, at(got), at(want))
}

// randomBytes returns n bytes from a generator seeded with seed, so a
// failure can be reproduced.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	out := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(out)
	return out
}

// fullInvocation returns an invocation with every field set, each to a
// distinct value, so a backend that drops or swaps a field is caught.
func fullInvocation(id state.InvocationID) state.Invocation {
	return state.Invocation{
		ID: id,
		CallID: state.CallID{
			Task:   state.TaskID{Module: "pkg.sub.mod", FuncName: "compute"},
			ArgsID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		},
		Arguments: map[string]string{"a": "10", "b": `"twenty"`},
		Workflow: state.WorkflowIdentity{
			WorkflowID:       id + "-wf",
			WorkflowType:     state.TaskID{Module: "pkg.flows", FuncName: "pipeline"},
			ParentWorkflowID: id + "-parent-wf",
		},
		ParentInvocationID: id + "-parent",
	}
}

// allIDs returns every invocation id of b (the zero filter).
func allIDs(t *testing.T, b state.Backend) []state.InvocationID {
	t.Helper()
	ids, err := b.InvocationIDsByWorkflow(ctx(t), state.WorkflowFilter{})
	if err != nil {
		t.Fatalf("InvocationIDsByWorkflow(zero filter): %v", err)
	}
	return ids
}

// byWorkflow returns the ids matching f or fails the test.
func byWorkflow(t *testing.T, b state.Backend, f state.WorkflowFilter) []state.InvocationID {
	t.Helper()
	ids, err := b.InvocationIDsByWorkflow(ctx(t), f)
	if err != nil {
		t.Fatalf("InvocationIDsByWorkflow(%+v): %v", f, err)
	}
	return ids
}

// children returns the children of parent or fails the test.
func children(t *testing.T, b state.Backend, parent state.InvocationID) []state.InvocationID {
	t.Helper()
	ids, err := b.ChildInvocations(ctx(t), parent)
	if err != nil {
		t.Fatalf("ChildInvocations(%q): %v", parent, err)
	}
	return ids
}

// mustInvocations returns Invocations(ids) or fails the test.
func mustInvocations(t *testing.T, b state.Backend, ids ...state.InvocationID) map[state.InvocationID]state.Invocation {
	t.Helper()
	m, err := b.Invocations(ctx(t), ids)
	if err != nil {
		t.Fatalf("Invocations(%d ids): %v", len(ids), err)
	}
	return m
}

// wantRoundTrip upserts invs in one call and checks each reads back equal,
// one at a time and in one batch.
func wantRoundTrip(t *testing.T, b state.Backend, invs ...state.Invocation) {
	t.Helper()
	mustUpsert(t, b, invs...)
	ids := make([]state.InvocationID, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
		wantInvocation(t, fmt.Sprintf("Invocation(%q)", inv.ID), mustInvocation(t, b, inv.ID), inv)
	}
	m := mustInvocations(t, b, ids...)
	if len(m) != len(invs) {
		t.Fatalf("Invocations: got %d invocations, want %d", len(m), len(invs))
	}
	for _, inv := range invs {
		wantInvocation(t, fmt.Sprintf("Invocations()[%q]", inv.ID), m[inv.ID], inv)
	}
}
