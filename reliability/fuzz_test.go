package reliability_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance/sqlitetest"
)

// FuzzArgumentsRoundTrip proves that whatever a caller stores through a
// SQLite backend comes back exactly or is refused with ErrInvalidArgument,
// never another error, a panic or a changed value: an invocation whose
// arguments map holds two fuzzed names and values (and whose id, task and
// args id are fuzzed), and a fuzzed result, exception and workflow data
// payload. A refused write must leave nothing behind.
//
//	go test -run '^$' -fuzz '^FuzzArgumentsRoundTrip$' -fuzztime 8000x ./reliability
func FuzzArgumentsRoundTrip(f *testing.F) {
	type seed struct {
		id, module, argsID, name1, value1, name2, value2 string
		payload                                          []byte
	}
	for _, s := range []seed{
		{"inv-1", "mod", "no_args", "x", "1", "y", `"two"`, []byte("result")},
		{"", "mod", "a", "", "", "", "", nil},
		{"inv-2", "a.b.c", "sha", "k", "", "k2", "{\"nested\": [1, 2, {}]}", []byte{}},
		{"quote'\"`", "m", "'; DROP TABLE state_backend_invocations; --", "%", "_", `\`, `\\`, []byte{0, 0, 0}},
		{"emoji🚀", "módulo", "日本", "🚀", "\u2028\u2029", "<>&", "\x7f", []byte("\xff\xfe\x00\x80")},
		{"nul\x00", "m", "a", "n\x00", "v", "x", "y", []byte("x")},
		{"bad-utf8", "m", "a", "\xff", "v", "x", "\xc3\x28", []byte("x")},
		{"long", "m", "a", "k", string(bytes.Repeat([]byte("v"), 70000)), "k2", "", bytes.Repeat([]byte{0xAB}, 70000)},
		{string(bytes.Repeat([]byte("i"), 255)), "m", "a", "k", "v", "k2", "v2", nil},
		{string(bytes.Repeat([]byte("i"), 256)), "m", "a", "k", "v", "k2", "v2", nil},
		{"colon:id", "m.with.dots", "has:colon", "null", "null", "true", "0", []byte("null")},
	} {
		f.Add(s.id, s.module, s.argsID, s.name1, s.value1, s.name2, s.value2, s.payload)
	}
	b := sqlitetest.Open(f, filepath.Join(f.TempDir(), "fuzz.db"), "fuzz")
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, id, module, argsID, name1, value1, name2, value2 string, data []byte) {
		ctx := t.Context()
		// A prefix keeps ids unique across iterations (the same input may
		// run twice); the fuzzed part still reaches every id column.
		inv := statebackend.Invocation{
			ID:        statebackend.InvocationID(fmt.Sprintf("%d-", n.Add(1)) + id),
			CallID:    statebackend.CallID{Task: statebackend.TaskID{Module: module, FuncName: "fn"}, ArgsID: argsID},
			Arguments: map[string]string{name1: value1, name2: value2},
		}
		inv.Workflow = statebackend.WorkflowIdentity{WorkflowID: inv.ID, WorkflowType: inv.CallID.Task}

		err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv})
		switch {
		case errors.Is(err, statebackend.ErrInvalidArgument):
			if err := inv.ID.Validate("id"); err == nil {
				if _, err := b.Invocation(ctx, inv.ID); !errors.Is(err, statebackend.ErrNotFound) {
					t.Fatalf("refused invocation %q left something behind: %v", inv.ID, err)
				}
			}
		case err != nil:
			t.Fatalf("UpsertInvocations: error %v is not ErrInvalidArgument", err)
		default:
			got, err := b.Invocation(ctx, inv.ID)
			if err != nil {
				t.Fatalf("Invocation(%q) after a successful upsert: %v", inv.ID, err)
			}
			if !reflect.DeepEqual(got, normalized(inv)) {
				t.Fatalf("invocation round trip:\n got %#v\nwant %#v", got, normalized(inv))
			}
		}

		payloads := []struct {
			name string
			set  func() error
			get  func() ([]byte, error)
		}{
			{"result", func() error { return b.SetResult(ctx, inv.ID, data) }, func() ([]byte, error) { return b.Result(ctx, inv.ID) }},
			{"exception", func() error { return b.SetException(ctx, inv.ID, data) }, func() ([]byte, error) { return b.Exception(ctx, inv.ID) }},
			{"workflow data", func() error { return b.SetWorkflowData(ctx, inv.ID, name1, data) },
				func() ([]byte, error) { return b.WorkflowData(ctx, inv.ID, name1) }},
		}
		for _, p := range payloads {
			err := p.set()
			if errors.Is(err, statebackend.ErrInvalidArgument) {
				continue
			}
			if err != nil {
				t.Fatalf("set %s: error %v is not ErrInvalidArgument", p.name, err)
			}
			got, err := p.get()
			if err != nil {
				t.Fatalf("get %s after a successful set: %v", p.name, err)
			}
			if !bytes.Equal(got, data) || got == nil {
				t.Fatalf("%s round trip: got %d bytes %q, want %d bytes %q", p.name, len(got), trim(got), len(data), trim(data))
			}
		}
	})
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
