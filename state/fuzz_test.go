package state_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// FuzzTaskCallKeys proves that task and call keys round-trip: any key that
// parses formats back to the same key, any TaskID or CallID that validates
// parses back from its key unchanged, and everything else fails with
// ErrInvalidArgument (never a panic).
//
//	go test -run '^$' -fuzz '^FuzzTaskCallKeys$' -fuzztime 500000x ./state
func FuzzTaskCallKeys(f *testing.F) {
	for _, s := range [][3]string{
		{"mod.func:no_args", "mod", "func"},
		{"pkg.sub.mod.func:3f2a", "pkg.sub.mod", "func"},
		{"a.b", "a", "b"},
		{".func:x", "", "func"},
		{"mod.:x", "mod", ""},
		{"mod.func:", "mod.func", "x"},
		{"mod.func:a:b", "mod", "fu.nc"},
		{"nodot", "mod", "f:g"},
		{"m\x00.f:x", "m\x00", "f"},
		{"m\xff.f:x", "\xff", "f"},
		{"módulo.función:日本", "módulo", "función"},
		{"a..b::c", "a.", "b"},
	} {
		f.Add(s[0], s[1], s[2], "no_args")
	}
	f.Fuzz(func(t *testing.T, key, module, fn, argsID string) {
		if task, err := state.ParseTaskID(key); err != nil {
			wantInvalid(t, "ParseTaskID", err)
		} else {
			if task.Key() != key {
				t.Fatalf("ParseTaskID(%q).Key() = %q", key, task.Key())
			}
			if err := task.Validate("task"); err != nil {
				t.Fatalf("ParseTaskID(%q) = %+v, which does not validate: %v", key, task, err)
			}
		}
		if call, err := state.ParseCallID(key); err != nil {
			wantInvalid(t, "ParseCallID", err)
		} else {
			if call.Key() != key {
				t.Fatalf("ParseCallID(%q).Key() = %q", key, call.Key())
			}
			if err := call.Validate("call"); err != nil {
				t.Fatalf("ParseCallID(%q) = %+v, which does not validate: %v", key, call, err)
			}
		}

		task := state.TaskID{Module: module, FuncName: fn}
		if err := task.Validate("task"); err != nil {
			wantInvalid(t, "TaskID.Validate", err)
			return
		}
		back, err := state.ParseTaskID(task.Key())
		if err != nil || back != task {
			t.Fatalf("ParseTaskID(%q) = %+v, %v; want %+v", task.Key(), back, err, task)
		}
		call := state.CallID{Task: task, ArgsID: argsID}
		if err := call.Validate("call"); err != nil {
			wantInvalid(t, "CallID.Validate", err)
			return
		}
		backCall, err := state.ParseCallID(call.Key())
		if err != nil || backCall != call {
			t.Fatalf("ParseCallID(%q) = %+v, %v; want %+v", call.Key(), backCall, err, call)
		}
	})
}

// FuzzHistoryJSON proves that decoding a history record never panics and
// fails only with ErrInvalidArgument, and that whatever decodes re-encodes
// to JSON that decodes to an equal record and encodes identically again.
//
//	go test -run '^$' -fuzz '^FuzzHistoryJSON$' -fuzztime 500000x ./state
func FuzzHistoryJSON(f *testing.F) {
	for _, s := range []string{
		// As pynenc writes them (isoformat, "+00:00").
		`{"invocation_id":"inv-1","_timestamp":"2025-01-15T12:10:00.123456+00:00","status_record":{"status":"running","runner_id":null,"timestamp":"2025-01-15T12:10:00.123456+00:00"},"runner_context_id":"runner-1","registered_by_inv_id":null}`,
		`{"invocation_id":"inv-2","_timestamp":"2025-01-15T12:10:00+00:00","status_record":{"status":"registered","runner_id":"r-1","timestamp":"2025-01-15T12:10:00+00:00"},"runner_context_id":"ctx","registered_by_inv_id":"inv-1"}`,
		// "Z", other offsets, naive (UTC) and space-separated timestamps.
		`{"invocation_id":"inv-3","_timestamp":"2025-01-15T12:10:00.5Z","status_record":{"status":"success","runner_id":null,"timestamp":"2025-01-15T12:10:00Z"},"runner_context_id":"x","registered_by_inv_id":null}`,
		`{"invocation_id":"inv-4","_timestamp":"2025-01-15T12:10:00.123456789-05:30","status_record":{"status":"failed","runner_id":"r","timestamp":"2025-01-15T14:10:00+02:00"},"runner_context_id":"x","registered_by_inv_id":null}`,
		`{"invocation_id":"inv-5","_timestamp":"2025-01-15T12:10:00.123456","status_record":{"status":"pending","runner_id":null,"timestamp":"2025-01-15 12:10:00"},"runner_context_id":null,"registered_by_inv_id":null}`,
		// Year bounds, escapes, missing and extra fields, wrong types.
		`{"invocation_id":"i","_timestamp":"9999-12-31T23:59:59.999999+00:00","status_record":{"status":"retry","runner_id":null,"timestamp":"0001-01-01T00:00:00+00:00"},"runner_context_id":"","registered_by_inv_id":null}`,
		// Offsets that carry a valid local time out of years 1-9999 in UTC
		// (decoded once, these could not be written back).
		`{"invocation_id":"i","_timestamp":"9999-12-31T23:59:59-01:00","status_record":{"status":"retry","runner_id":null,"timestamp":"2025-01-15T12:10:00Z"},"runner_context_id":"","registered_by_inv_id":null}`,
		`{"invocation_id":"i","_timestamp":"2025-01-15T12:10:00Z","status_record":{"status":"retry","runner_id":null,"timestamp":"0001-01-01T00:00:00+01:00"},"runner_context_id":"","registered_by_inv_id":null}`,
		`{"invocation_id":"i","_timestamp":"0000-01-01T00:00:00+00:00","status_record":{"status":"retry","runner_id":null,"timestamp":"2025-01-15T12:10:00+00:00"},"runner_context_id":"","registered_by_inv_id":null}`,
		// Invalid UTF-8 inside a canonical document.
		"{\"invocation_id\":\"\xff\",\"_timestamp\":\"2025-01-15T12:10:00+00:00\",\"status_record\":{\"status\":\"running\",\"runner_id\":null,\"timestamp\":\"2025-01-15T12:10:00+00:00\"},\"runner_context_id\":\"\x81\",\"registered_by_inv_id\":null}",
		`{"invocation_id":"\u00e9\ud83d\ude80\"\\\u0000","_timestamp":"2025-01-15T12:10:00Z","status_record":{"status":"paused","runner_id":"<&>","timestamp":"2025-01-15T12:10:00Z"},"runner_context_id":"\u2028","registered_by_inv_id":"\t"}`,
		`{"invocation_id":"inv","_timestamp":"2025-01-15T12:10:00Z","status_record":{"status":"bogus","runner_id":null,"timestamp":"2025-01-15T12:10:00Z"}}`,
		`{"invocation_id":"inv","_timestamp":"2025-01-15T12:10:00Z","status_record":null,"extra":[1,2,3]}`,
		`{"invocation_id":1,"_timestamp":"yesterday"}`,
		`{"invocation_id":"inv","_timestamp":"2025-01-15T12:10:00Z","status_record":{"status":"running","timestamp":"2025-13-40T25:61:61Z"}}`,
		`[]`, `null`, `{}`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h state.InvocationHistory
		if err := h.UnmarshalJSON(data); err != nil {
			wantInvalid(t, "UnmarshalJSON", err)
			return
		}
		enc, err := h.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of %+v (decoded from %q): %v", h, data, err)
		}
		var back state.InvocationHistory
		if err := back.UnmarshalJSON(enc); err != nil {
			t.Fatalf("decoded %q to %+v, whose encoding %s does not decode: %v", data, h, enc, err)
		}
		if !equalHistory(h, back) {
			t.Fatalf("decoded %q to %+v; its encoding %s decodes to %+v", data, h, enc, back)
		}
		if again, _ := back.MarshalJSON(); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable: %s, then %s", enc, again)
		}
		if h.Timestamp.Location().String() != "UTC" || h.StatusRecord.Timestamp.Location().String() != "UTC" {
			t.Fatalf("decoded %q to timestamps not in UTC: %v, %v", data, h.Timestamp, h.StatusRecord.Timestamp)
		}
	})
}

func equalHistory(a, b state.InvocationHistory) bool {
	return a.InvocationID == b.InvocationID && a.Timestamp.Equal(b.Timestamp) &&
		a.StatusRecord.Status == b.StatusRecord.Status && a.StatusRecord.RunnerID == b.StatusRecord.RunnerID &&
		a.StatusRecord.Timestamp.Equal(b.StatusRecord.Timestamp) &&
		a.RunnerContextID == b.RunnerContextID && a.RegisteredByInvID == b.RegisteredByInvID
}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, state.ErrInvalidArgument) {
		t.Fatalf("%s: error %v does not wrap ErrInvalidArgument", what, err)
	}
}
