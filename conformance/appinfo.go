package conformance

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/taskstate/statebackend/state"
)

// appInfoTests returns the tests of group "appinfo".
func appInfoTests() []Test {
	tests := []Test{
		{Name: "round_trip", Run: testAppInfoRoundTrip},
		{Name: "nil_config_and_empty_fields", Run: testAppInfoMinimal},
		{Name: "numbers_keep_kind_and_precision", Run: testAppInfoNumbers},
		{Name: "missing_is_not_found", Run: testAppInfoMissing},
		{Name: "overwrite_replaces_whole_info", Run: testAppInfoOverwrite},
		{Name: "discover_across_apps", Run: testAppInfoDiscover},
	}
	for i := range tests {
		tests[i].Group = "appinfo"
	}
	return tests
}

// fullAppInfo returns an app info with every field set and config values of
// every JSON kind.
func fullAppInfo(appID string) state.AppInfo {
	return state.AppInfo{
		AppID:  appID,
		Module: "my_project.tasks",
		ConfigValues: map[string]any{
			"app_id":                    appID,
			"dev_mode_force_sync_tasks": false,
			"logging_level":             "info",
			"print_arguments":           true,
			"ratio":                     0.25,
			"max_pending":               float64(1 << 40),
			"negative":                  -3.5,
			"nothing":                   nil,
			"unicode":                   "Grüße 🚀 \"quoted\" \\ 'single' \x01",
			"empty_string":              "",
			"runner": map[string]any{
				"min_processes": float64(2),
				"nested":        map[string]any{"deeper": []any{"a", float64(1), true, nil}},
				"empty":         map[string]any{},
			},
			"list":       []any{"x", float64(2), false, map[string]any{"k": "v"}, []any{}},
			"empty_list": []any{},
		},
		ConfigFilepath: "/etc/pynenc/config.yaml",
		ModuleFilepath: "/srv/app/my_project/tasks.py",
		AppVariable:    "app",
	}
}

// wantAppInfo fails the test unless AppInfo(want.AppID) equals want.
func wantAppInfo(t *testing.T, b state.Backend, want state.AppInfo) {
	t.Helper()
	got, err := b.AppInfo(ctx(t), want.AppID)
	noErr(t, "AppInfo("+want.AppID+")", err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AppInfo(%q):\n got  %#v\nwant %#v", want.AppID, got, want)
	}
}

func testAppInfoRoundTrip(t *testing.T, h Harness) {
	appID := NewAppID()
	b := h.Open(t, appID)
	info := fullAppInfo(appID)
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), info))
	wantAppInfo(t, b, info)
	// The backend does not keep the caller's map: changing it afterwards
	// changes nothing stored.
	info.ConfigValues["logging_level"] = "debug"
	wantAppInfo(t, b, fullAppInfo(appID))
}

func testAppInfoMinimal(t *testing.T, h Harness) {
	b := open(t, h)
	info := state.AppInfo{AppID: "minimal-app", Module: "m"}
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), info))
	wantAppInfo(t, b, info)
	empty := state.AppInfo{AppID: "empty-app"}
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), empty))
	wantAppInfo(t, b, empty)
}

// testAppInfoNumbers checks the number rules of state.AppInfo: integers of
// any Go type read back as int64, exactly (pynenc's config holds Python
// ints, which have no 2^53 limit), and floats as float64, integral ones
// included.
func testAppInfoNumbers(t *testing.T, h Harness) {
	b := open(t, h)
	in := state.AppInfo{AppID: "numbers", Module: "m", ConfigValues: map[string]any{
		"int": 3, "int64": int64(-7), "uint8": uint8(200), "float32": float32(0.5),
		"p53": int64(1<<53 + 1), "max": int64(math.MaxInt64), "min": int64(math.MinInt64),
		"integral_float": 2.0, "nested": []any{uint64(1<<63 + 1), int64(1<<53 + 1), 1e300},
	}}
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), in))
	want := in
	want.ConfigValues = map[string]any{
		"int": int64(3), "int64": int64(-7), "uint8": int64(200), "float32": 0.5,
		"p53": int64(1<<53 + 1), "max": int64(math.MaxInt64), "min": int64(math.MinInt64),
		"integral_float": 2.0, "nested": []any{json.Number("9223372036854775809"), int64(1<<53 + 1), 1e300},
	}
	wantAppInfo(t, b, want)
}

func testAppInfoMissing(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.AppInfo(ctx(t), "no-such-app")
	wantNotFound(t, "AppInfo on an empty backend", err)
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), state.AppInfo{AppID: "app-1", Module: "m"}))
	_, err = b.AppInfo(ctx(t), "app-2")
	wantNotFound(t, "AppInfo(app-2)", err)
	_, err = b.AppInfo(ctx(t), "APP-1")
	wantNotFound(t, "AppInfo(APP-1)", err)
}

func testAppInfoOverwrite(t *testing.T, h Harness) {
	b := open(t, h)
	first := fullAppInfo("app-1")
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), first))
	second := state.AppInfo{AppID: "app-1", Module: "other.module", ConfigValues: map[string]any{"only": "this"}}
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), second))
	wantAppInfo(t, b, second)
	// A second app id in the same backend is a separate entry.
	third := state.AppInfo{AppID: "app-2", Module: "m"}
	noErr(t, "StoreAppInfo", b.StoreAppInfo(ctx(t), third))
	wantAppInfo(t, b, second)
	wantAppInfo(t, b, third)
}

func testAppInfoDiscover(t *testing.T, h Harness) {
	idA, idB := NewAppID(), NewAppID()
	a, b := h.Open(t, idA), h.Open(t, idB)
	infoA, infoB := fullAppInfo(idA), state.AppInfo{AppID: idB, Module: "b.module"}
	noErr(t, "StoreAppInfo(A)", a.StoreAppInfo(ctx(t), infoA))
	noErr(t, "StoreAppInfo(B)", b.StoreAppInfo(ctx(t), infoB))
	for name, be := range map[string]state.Backend{"A": a, "B": b} {
		all, err := be.DiscoverAppInfos(ctx(t))
		noErr(t, "DiscoverAppInfos through "+name, err)
		for _, want := range []state.AppInfo{infoA, infoB} {
			got, ok := all[want.AppID]
			if !ok {
				t.Fatalf("DiscoverAppInfos through %s: app %q missing (found %d apps)", name, want.AppID, len(all))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("DiscoverAppInfos through %s [%q]:\n got  %#v\nwant %#v", name, want.AppID, got, want)
			}
		}
		for key, info := range all {
			if key != info.AppID {
				t.Fatalf("DiscoverAppInfos through %s: key %q holds the info of app %q", name, key, info.AppID)
			}
		}
	}
	// A third backend, opened after the writes, discovers them too.
	all, err := h.Open(t, NewAppID()).DiscoverAppInfos(ctx(t))
	noErr(t, "DiscoverAppInfos through a third app", err)
	if _, ok := all[idA]; !ok {
		t.Fatalf("DiscoverAppInfos through a third app: app %q missing", idA)
	}
}
