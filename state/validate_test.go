package state_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// TestValidateNamesNestedFields checks that a failure deep inside a value
// names the whole path to it, and that valid values pass without building
// any name (no allocation).
func TestValidateNamesNestedFields(t *testing.T) {
	task := state.TaskID{Module: "m", FuncName: "f"}
	valid := func() state.Invocation {
		return state.Invocation{
			ID: "inv", CallID: state.CallID{Task: task, ArgsID: "a"},
			Arguments: map[string]string{"x": "1"},
			Workflow:  state.WorkflowIdentity{WorkflowID: "inv", WorkflowType: task},
		}
	}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	history := func() state.InvocationHistory {
		return state.InvocationHistory{InvocationID: "inv", Timestamp: ts,
			StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: ts}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"workflow id", func() error { i := valid(); i.Workflow.WorkflowID = "a\x00b"; return i.Validate("invocations[2]") }(),
			"invocations[2].Workflow.WorkflowID"},
		{"workflow type", func() error { i := valid(); i.Workflow.WorkflowType.FuncName = "a.b"; return i.Validate("inv") }(),
			"inv.Workflow.WorkflowType.FuncName"},
		{"task key", func() error { i := valid(); i.CallID.Task.Module = strings.Repeat("m", 256); return i.Validate("inv") }(),
			"inv.CallID.Task"},
		{"task key utf-8", func() error { i := valid(); i.CallID.Task.FuncName = "\xff"; return i.Validate("inv") }(),
			"inv.CallID.Task"},
		{"argument", func() error { i := valid(); i.Arguments["k"] = "\xff"; return i.Validate("inv") }(),
			`inv.Arguments["k"]`},
		{"argument key", func() error { i := valid(); i.Arguments["\x00"] = "v"; return i.Validate("inv") }(),
			"inv.Arguments key"},
		{"parent", func() error { i := valid(); i.ParentInvocationID = "\xff"; return i.Validate("inv") }(),
			"inv.ParentInvocationID"},
		{"runner", func() error { h := history(); h.StatusRecord.RunnerID = "\x00"; return h.Validate("history") }(),
			"history.StatusRecord.RunnerID"},
		{"status", func() error { h := history(); h.StatusRecord.Status = "nope"; return h.Validate("history") }(),
			"history.StatusRecord.Status"},
	} {
		if !errors.Is(tc.err, state.ErrInvalidArgument) || !strings.Contains(tc.err.Error(), tc.want+":") {
			t.Errorf("%s: error %v, want ErrInvalidArgument naming %s", tc.name, tc.err, tc.want)
		}
	}
	inv, h := valid(), history()
	if n := testing.AllocsPerRun(100, func() {
		if inv.Validate("invocations[0]") != nil || h.Validate("history") != nil {
			t.Fatal("a valid value failed")
		}
	}); n != 0 {
		t.Errorf("validating valid values: %.0f allocations, want 0", n)
	}
}
