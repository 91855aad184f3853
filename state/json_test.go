package state_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// jsonEqual reports whether a and b are equal JSON values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestHistoryJSONGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		input string // as pynenc writes it (json.dumps: ", " and ": " separators)
		want  state.InvocationHistory
		// canonical is the form we write back; equal to input when input is
		// already canonical.
		canonical string
	}{
		{
			name:  "pynenc record with micros",
			input: `{"invocation_id": "inv-1", "_timestamp": "2026-01-01T00:00:00.000001+00:00", "status_record": {"status": "running", "runner_id": null, "timestamp": "2026-01-01T00:00:00+00:00"}, "runner_context_id": "runner-1", "registered_by_inv_id": null}`,
			want: state.InvocationHistory{
				InvocationID:    "inv-1",
				Timestamp:       time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC),
				StatusRecord:    state.StatusRecord{Status: state.StatusRunning, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
				RunnerContextID: "runner-1",
			},
		},
		{
			name:  "all fields set",
			input: `{"invocation_id": "9b2c", "_timestamp": "2025-01-15T12:10:00.123456+00:00", "status_record": {"status": "registered", "runner_id": "ExternalRunner@host-12", "timestamp": "2025-01-15T12:10:00.123000+00:00"}, "runner_context_id": "ExternalRunner@host-12", "registered_by_inv_id": "parent-7"}`,
			want: state.InvocationHistory{
				InvocationID: "9b2c",
				Timestamp:    time.Date(2025, 1, 15, 12, 10, 0, 123456000, time.UTC),
				StatusRecord: state.StatusRecord{
					Status: state.StatusRegistered, RunnerID: "ExternalRunner@host-12",
					Timestamp: time.Date(2025, 1, 15, 12, 10, 0, 123000000, time.UTC),
				},
				RunnerContextID:   "ExternalRunner@host-12",
				RegisteredByInvID: "parent-7",
			},
		},
		{
			name:      "Z zone and missing registered_by_inv_id",
			input:     `{"invocation_id": "a", "_timestamp": "2025-01-15T12:10:00.5Z", "status_record": {"status": "success", "runner_id": null, "timestamp": "2025-01-15T12:10:00Z"}, "runner_context_id": "r"}`,
			canonical: `{"invocation_id": "a", "_timestamp": "2025-01-15T12:10:00.500000+00:00", "status_record": {"status": "success", "runner_id": null, "timestamp": "2025-01-15T12:10:00+00:00"}, "runner_context_id": "r", "registered_by_inv_id": null}`,
			want: state.InvocationHistory{
				InvocationID: "a", Timestamp: time.Date(2025, 1, 15, 12, 10, 0, 500000000, time.UTC),
				StatusRecord:    state.StatusRecord{Status: state.StatusSuccess, Timestamp: time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC)},
				RunnerContextID: "r",
			},
		},
		{
			name:      "naive timestamps are UTC, offsets are converted",
			input:     `{"invocation_id": "b", "_timestamp": "1970-01-01T00:00:03", "status_record": {"status": "failed", "runner_id": null, "timestamp": "2025-01-15T14:10:00+02:00"}, "runner_context_id": "r", "registered_by_inv_id": null}`,
			canonical: `{"invocation_id": "b", "_timestamp": "1970-01-01T00:00:03+00:00", "status_record": {"status": "failed", "runner_id": null, "timestamp": "2025-01-15T12:10:00+00:00"}, "runner_context_id": "r", "registered_by_inv_id": null}`,
			want: state.InvocationHistory{
				InvocationID: "b", Timestamp: time.Unix(3, 0).UTC(),
				StatusRecord:    state.StatusRecord{Status: state.StatusFailed, Timestamp: time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC)},
				RunnerContextID: "r",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got state.InvocationHistory
			if err := json.Unmarshal([]byte(tc.input), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Timestamp.Location() != time.UTC || got.StatusRecord.Timestamp.Location() != time.UTC {
				t.Fatalf("timestamps not in UTC: %v, %v", got.Timestamp.Location(), got.StatusRecord.Timestamp.Location())
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			want := tc.canonical
			if want == "" {
				want = tc.input
			}
			if !jsonEqual(t, out, []byte(want)) {
				t.Fatalf("re-encoded\n got %s\nwant %s", out, want)
			}
			var again state.InvocationHistory
			if err := json.Unmarshal(out, &again); err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("second round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestHistoryJSONRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`,
		`{"invocation_id": "a", "_timestamp": "yesterday", "status_record": {"status": "running", "runner_id": null, "timestamp": "2025-01-15T12:10:00Z"}, "runner_context_id": "r"}`,
		`{"invocation_id": "a", "_timestamp": "2025-01-15T12:10:00Z", "status_record": {"status": "sleeping", "runner_id": null, "timestamp": "2025-01-15T12:10:00Z"}, "runner_context_id": "r"}`,
		`{"invocation_id": "a", "_timestamp": "2025-01-15T12:10:00Z", "status_record": null, "runner_context_id": "r"}`,
		`[1, 2]`,
	} {
		var h state.InvocationHistory
		if err := json.Unmarshal([]byte(in), &h); !errors.Is(err, state.ErrInvalidArgument) {
			t.Errorf("Unmarshal(%s) = %v, want ErrInvalidArgument", in, err)
		}
	}
}

func TestRunnerContextJSON(t *testing.T) {
	t.Parallel()
	// pynenc's RunnerContext.to_json (sort_keys=True), parent nested.
	in := `{"hostname": "web-1", "parent_ctx": {"hostname": "web-1", "parent_ctx": null, "pid": 10, "runner_cls": "MultiThreadRunner", "runner_id": "root", "thread_id": 0}, "pid": 11, "runner_cls": "ThreadRunner", "runner_id": "child", "thread_id": 140234567890123}`
	var rc state.RunnerContext
	if err := json.Unmarshal([]byte(in), &rc); err != nil {
		t.Fatal(err)
	}
	want := state.RunnerContext{
		RunnerCls: "ThreadRunner", RunnerID: "child", PID: 11, Hostname: "web-1", ThreadID: 140234567890123,
		Parent: &state.RunnerContext{RunnerCls: "MultiThreadRunner", RunnerID: "root", PID: 10, Hostname: "web-1"},
	}
	if !rc.Equal(&want) {
		t.Fatalf("got %+v (parent %+v), want %+v", rc, rc.Parent, want)
	}
	out, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, out, []byte(in)) {
		t.Fatalf("re-encoded %s, want %s", out, in)
	}
}

func TestAppInfoJSON(t *testing.T) {
	t.Parallel()
	in := `{"app_id": "app", "module": "myapp.tasks", "config_values": {"runner_cls": "ThreadRunner", "n": 2.5, "flag": true}, "config_filepath": null, "module_filepath": "/srv/myapp/tasks.py", "app_variable": "app"}`
	var info state.AppInfo
	if err := json.Unmarshal([]byte(in), &info); err != nil {
		t.Fatal(err)
	}
	want := state.AppInfo{
		AppID: "app", Module: "myapp.tasks",
		ConfigValues:   map[string]any{"runner_cls": "ThreadRunner", "n": 2.5, "flag": true},
		ModuleFilepath: "/srv/myapp/tasks.py", AppVariable: "app",
	}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("got %+v, want %+v", info, want)
	}
	out, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, out, []byte(in)) {
		t.Fatalf("re-encoded %s, want %s", out, in)
	}
}

// TestAppInfoExactNumbers checks that config numbers keep their kind and
// value as pynenc writes them: Python ints (of any size) are exact, floats
// stay floats.
func TestAppInfoExactNumbers(t *testing.T) {
	t.Parallel()
	in := `{"app_id": "app", "module": "m", "config_values": {` +
		`"small": 3, "neg": -7, "p53": 9007199254740993, "max": 9223372036854775807, "min": -9223372036854775808,` +
		`"huge": 18446744073709551616, "float": 2.0, "frac": 0.25, "exp": 1e300, "nested": {"list": [1, 2.5, 9007199254740993]}},` +
		` "config_filepath": null, "module_filepath": null, "app_variable": null}`
	var info state.AppInfo
	if err := json.Unmarshal([]byte(in), &info); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"small": int64(3), "neg": int64(-7), "p53": int64(1<<53 + 1), "max": int64(math.MaxInt64), "min": int64(math.MinInt64),
		"huge": json.Number("18446744073709551616"), "float": 2.0, "frac": 0.25, "exp": 1e300,
		"nested": map[string]any{"list": []any{int64(1), 2.5, int64(1<<53 + 1)}},
	}
	if !reflect.DeepEqual(info.ConfigValues, want) {
		t.Fatalf("got  %#v\nwant %#v", info.ConfigValues, want)
	}
	out, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	// Every integer is written back digit for digit.
	for _, digits := range []string{"9007199254740993", "9223372036854775807", "-9223372036854775808", "18446744073709551616"} {
		if !strings.Contains(string(out), digits) {
			t.Errorf("re-encoded %s lacks %s", out, digits)
		}
	}
	var again state.AppInfo
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.ConfigValues, want) {
		t.Fatalf("second round trip: got %#v", again.ConfigValues)
	}
}

func TestTimestampFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC), "2025-01-15T12:10:00+00:00"},
		{time.Date(2025, 1, 15, 12, 10, 0, 100000000, time.UTC), "2025-01-15T12:10:00.100000+00:00"},
		{time.Date(2025, 1, 15, 12, 10, 0, 999999999, time.UTC), "2025-01-15T12:10:00.999999+00:00"},
		{time.Date(2025, 1, 15, 14, 10, 0, 1000, time.FixedZone("CEST", 2*3600)), "2025-01-15T12:10:00.000001+00:00"},
	}
	for _, tc := range cases {
		if got := state.FormatTimestamp(tc.in); got != tc.want {
			t.Errorf("FormatTimestamp(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
