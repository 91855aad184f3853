package conformance

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// validationTests returns the tests of group "validation": a catalogue of
// hostile input, each case pinned to one outcome. Either the input is
// stored and reads back exactly, or the call fails with ErrInvalidArgument
// and the store is unchanged.
//
// The rule the cases follow (see state.ValidateKey and the Validate
// methods): identifiers and keys (invocation ids, task modules and function
// names, args ids, runner ids and classes, hostnames, data keys, app ids)
// are at most 255 bytes of valid UTF-8 without NUL bytes, non-empty where
// required; other text (argument names and values, app info fields) may be
// of any length but must be valid UTF-8 without NUL bytes; payloads are
// opaque bytes and always round-trip.
func validationTests() []Test {
	tests := []Test{
		{Name: "invocation_ids", Run: hostile(invocationIDCases)},
		{Name: "invocation_fields", Run: hostile(invocationFieldCases)},
		{Name: "history", Run: hostile(historyCases)},
		{Name: "runner_contexts", Run: hostile(runnerCases)},
		{Name: "workflows", Run: hostile(workflowCases)},
		{Name: "app_info_and_payloads", Run: hostile(appInfoPayloadCases)},
		{Name: "reads_and_ranges", Run: hostile(readCases)},
		{Name: "batch_atomicity", Run: hostile(atomicityCases)},
	}
	for i := range tests {
		tests[i].Group = "validation"
	}
	return tests
}

// hostileCase is one entry of the catalogue.
type hostileCase struct {
	name string
	// call is the operation under test.
	call func(c context.Context, b state.Backend) error
	// check is nil when call must fail with ErrInvalidArgument and change
	// nothing; otherwise call must succeed and check reads the input back.
	check func(t *testing.T, b state.Backend)
	// probe, for a refused call, reads what a careless backend would have
	// stored (the id itself, a truncated id...) and must find nothing.
	probe func(t *testing.T, b state.Backend)
}

// hostile runs the cases returned by cases in order, on one backend, as
// sequential subtests: a refused case must leave the store as the cases
// before it left it.
func hostile(cases func() []hostileCase) func(t *testing.T, h Harness) {
	return func(t *testing.T, h Harness) {
		b := open(t, h)
		for _, tc := range cases() {
			t.Run(tc.name, func(t *testing.T) {
				before := takeSnapshot(t, b)
				err := tc.call(ctx(t), b)
				if tc.check != nil {
					noErr(t, "valid input refused", err)
					tc.check(t, b)
					return
				}
				wantInvalid(t, "invalid input", err)
				before.wantSame(t, b)
				if tc.probe != nil {
					tc.probe(t, b)
				}
			})
		}
	}
}

// snapshot is what the listing reads of a backend return.
type snapshot struct {
	ids     []state.InvocationID
	history []state.InvocationHistory
	histIDs []state.InvocationID
	runs    []state.WorkflowIdentity
	types   []state.TaskID
	runners []state.RunnerContext
}

func takeSnapshot(t *testing.T, b state.Backend) snapshot {
	t.Helper()
	s := snapshot{
		ids: allInvocationIDs(t, b), history: allHistory(t, b), histIDs: allInvocationIDsWithHistory(t, b),
	}
	var err error
	s.runs, err = b.WorkflowRuns(ctx(t))
	noErr(t, "WorkflowRuns", err)
	s.types, err = b.WorkflowTypes(ctx(t))
	noErr(t, "WorkflowTypes", err)
	s.runners, err = b.MatchRunnerContexts(ctx(t), "")
	noErr(t, "MatchRunnerContexts", err)
	return s
}

// wantSame fails the test unless b reads as it did when s was taken.
func (s snapshot) wantSame(t *testing.T, b state.Backend) {
	t.Helper()
	now := takeSnapshot(t, b)
	wantIDs(t, "InvocationIDsByWorkflow(zero filter) after a refused call", now.ids, s.ids)
	wantHistory(t, "HistoryInTimeRange(all time) after a refused call", now.history, s.history)
	wantIDs(t, "InvocationIDsInTimeRange(all time) after a refused call", now.histIDs, s.histIDs)
	wantSlice(t, "WorkflowRuns after a refused call", now.runs, s.runs)
	wantSlice(t, "WorkflowTypes after a refused call", now.types, s.types)
	wantRunners(t, "MatchRunnerContexts(\"\") after a refused call", now.runners, s.runners)
}

// valid reports whether id is a usable identifier, so a probe can read it.
func valid(id string) bool { return id != "" && state.ValidateKey("", id) == nil }

// invCase stores inv; ok says whether it must be accepted.
func invCase(name string, inv state.Invocation, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.UpsertInvocations(c, []state.Invocation{inv})
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			wantInvocation(t, fmt.Sprintf("Invocation(%q)", inv.ID), mustInvocation(t, b, inv.ID), inv)
			got, err := b.Invocations(ctx(t), []state.InvocationID{inv.ID})
			noErr(t, "Invocations", err)
			wantInvocation(t, fmt.Sprintf("Invocations()[%q]", inv.ID), got[inv.ID], inv)
		}
	}
	tc.probe = probeInvocations(inv.ID)
	return tc
}

// probeInvocations checks that none of ids (those usable as ids) is stored.
func probeInvocations(ids ...state.InvocationID) func(t *testing.T, b state.Backend) {
	return func(t *testing.T, b state.Backend) {
		t.Helper()
		for _, id := range ids {
			if valid(string(id)) {
				_, err := b.Invocation(ctx(t), id)
				wantNotFound(t, fmt.Sprintf("Invocation(%q) after a refused call", id), err)
			}
		}
	}
}

// histCase adds rec to id; ok says whether it must be accepted.
func histCase(name string, id state.InvocationID, rec state.InvocationHistory, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.AddHistory(c, []state.InvocationID{id}, rec)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			wantHistory(t, fmt.Sprintf("History(%q)", id), mustHistory(t, b, id), []state.InvocationHistory{stored(id, rec)})
		}
	}
	tc.probe = func(t *testing.T, b state.Backend) {
		if valid(string(id)) {
			wantHistory(t, fmt.Sprintf("History(%q) after a refused call", id), mustHistory(t, b, id), nil)
		}
	}
	return tc
}

// runnerCase stores rc; ok says whether it must be accepted.
func runnerCase(name string, rc state.RunnerContext, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.StoreRunnerContext(c, rc)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			wantRunner(t, fmt.Sprintf("RunnerContext(%q)", rc.RunnerID), mustRunner(t, b, rc.RunnerID), rc)
		}
	}
	tc.probe = func(t *testing.T, b state.Backend) {
		for _, c := range rc.Chain() {
			if valid(c.RunnerID) {
				_, err := b.RunnerContext(ctx(t), c.RunnerID)
				wantNotFound(t, fmt.Sprintf("RunnerContext(%q) after a refused call", c.RunnerID), err)
			}
		}
	}
	return tc
}

// runCase stores wf; ok says whether it must be accepted.
func runCase(name string, wf state.WorkflowIdentity, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.StoreWorkflowRun(c, wf)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			runs, err := b.WorkflowRuns(ctx(t))
			noErr(t, "WorkflowRuns", err)
			if !slices.Contains(runs, wf) {
				t.Fatalf("WorkflowRuns lacks %+v; got %+v", wf, runs)
			}
		}
	}
	return tc
}

// dataCase stores value under (wf, key); ok says whether it must be accepted.
func dataCase(name string, wf state.InvocationID, key string, value []byte, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.SetWorkflowData(c, wf, key, value)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) { wantData(t, b, wf, key, value) }
	}
	tc.probe = func(t *testing.T, b state.Backend) {
		if valid(string(wf)) && valid(key) {
			_, err := b.WorkflowData(ctx(t), wf, key)
			wantNotFound(t, "WorkflowData after a refused call", err)
		}
	}
	return tc
}

// infoCase stores info; ok says whether it must be accepted.
func infoCase(name string, info state.AppInfo, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		return b.StoreAppInfo(c, info)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			got, err := b.AppInfo(ctx(t), info.AppID)
			noErr(t, "AppInfo", err)
			if !reflect.DeepEqual(got, info) {
				t.Fatalf("AppInfo(%q):\n got  %#v\nwant %#v", info.AppID, got, info)
			}
		}
	}
	tc.probe = func(t *testing.T, b state.Backend) {
		if valid(info.AppID) {
			_, err := b.AppInfo(ctx(t), info.AppID)
			wantNotFound(t, "AppInfo after a refused call", err)
		}
	}
	return tc
}

// payloadCase sets the result and the exception of id to data; ok says
// whether it must be accepted.
func payloadCase(name string, id state.InvocationID, data []byte, ok bool) hostileCase {
	tc := hostileCase{name: name, call: func(c context.Context, b state.Backend) error {
		if err := b.SetResult(c, id, data); err != nil {
			return err
		}
		return b.SetException(c, id, data)
	}}
	if ok {
		tc.check = func(t *testing.T, b state.Backend) {
			got, err := b.Result(ctx(t), id)
			noErr(t, "Result", err)
			wantBytes(t, fmt.Sprintf("Result(%q)", id), got, data)
			got, err = b.Exception(ctx(t), id)
			noErr(t, "Exception", err)
			wantBytes(t, fmt.Sprintf("Exception(%q)", id), got, data)
		}
	}
	tc.probe = func(t *testing.T, b state.Backend) {
		if valid(string(id)) {
			_, err := b.Result(ctx(t), id)
			wantNotFound(t, "Result after a refused call", err)
		}
	}
	return tc
}

// refused is a call that must fail with ErrInvalidArgument and change
// nothing.
func refused(name string, call func(c context.Context, b state.Backend) error) hostileCase {
	return hostileCase{name: name, call: call}
}

// rangeCall drains a time-range iterator and returns its first error.
func rangeCall[T any](seq func(b state.Backend, c context.Context) func(func([]T, error) bool)) func(context.Context, state.Backend) error {
	return func(c context.Context, b state.Backend) error {
		for batch, err := range seq(b, c) {
			if err != nil {
				if batch != nil {
					return fmt.Errorf("error yielded with a non-nil batch of %d items, want a nil batch: %v", len(batch), err)
				}
				return err
			}
		}
		return nil
	}
}
