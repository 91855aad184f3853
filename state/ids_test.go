package state_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskstate/statebackend/state"
)

func TestTaskIDKeys(t *testing.T) {
	t.Parallel()
	valid := []struct {
		key  string
		want state.TaskID
	}{
		{"mod.func", state.TaskID{Module: "mod", FuncName: "func"}},
		{"pkg.sub.mod.func", state.TaskID{Module: "pkg.sub.mod", FuncName: "func"}},
		{"my-app.tasks.add_1", state.TaskID{Module: "my-app.tasks", FuncName: "add_1"}},
	}
	for _, tc := range valid {
		got, err := state.ParseTaskID(tc.key)
		if err != nil || got != tc.want {
			t.Errorf("ParseTaskID(%q) = %+v, %v; want %+v", tc.key, got, err, tc.want)
		}
		if got.Key() != tc.key {
			t.Errorf("%+v.Key() = %q, want %q", got, got.Key(), tc.key)
		}
	}
	for _, key := range []string{"", "nodot", ".func", "mod.", ".", "mod.\x00", "m." + strings.Repeat("f", 255), "m.\xff"} {
		if _, err := state.ParseTaskID(key); !errors.Is(err, state.ErrInvalidArgument) {
			t.Errorf("ParseTaskID(%q) error = %v, want ErrInvalidArgument", key, err)
		}
	}
	if err := (state.TaskID{Module: "m", FuncName: "a.b"}).Validate("task"); !errors.Is(err, state.ErrInvalidArgument) {
		t.Errorf("a '.' in FuncName must be refused (the key would not parse back), got %v", err)
	}
}

func TestCallIDKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want state.CallID
	}{
		{"mod.func:no_args", state.CallID{Task: state.TaskID{Module: "mod", FuncName: "func"}, ArgsID: state.NoArgs}},
		{"a:b.c.f:" + strings.Repeat("ab", 32), state.CallID{Task: state.TaskID{Module: "a:b.c", FuncName: "f"}, ArgsID: strings.Repeat("ab", 32)}},
	} {
		got, err := state.ParseCallID(tc.key)
		if err != nil || got != tc.want {
			t.Errorf("ParseCallID(%q) = %+v, %v; want %+v", tc.key, got, err, tc.want)
		}
		if got.Key() != tc.key {
			t.Errorf("%+v.Key() = %q, want %q", got, got.Key(), tc.key)
		}
	}
	for _, key := range []string{"", "mod.func", "mod.func:", "nodot:args", ":args"} {
		if _, err := state.ParseCallID(key); !errors.Is(err, state.ErrInvalidArgument) {
			t.Errorf("ParseCallID(%q) error = %v, want ErrInvalidArgument", key, err)
		}
	}
}

func TestInvalidNamesField(t *testing.T) {
	t.Parallel()
	err := state.InvocationID(strings.Repeat("x", 256)).Validate("invocations[3].ID")
	if !errors.Is(err, state.ErrInvalidArgument) || !strings.Contains(err.Error(), "invocations[3].ID") {
		t.Fatalf("error %q must wrap ErrInvalidArgument and name the field", err)
	}
}
