package conformance

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/taskstate/statebackend/state"
)

// The case tables of the validation group (see validation.go).

const sqlInjection = `'; DROP TABLE x; --`

var (
	s255     = strings.Repeat("a", state.MaxIDLen)
	s256     = s255 + "a"
	emoji255 = strings.Repeat("🚀", 63) + "abc"     // 255 bytes, 66 runes
	emoji256 = strings.Repeat("🚀", 64)             // 256 bytes, 64 runes
	runes255 = strings.Repeat("é", state.MaxIDLen) // 255 runes, 510 bytes
)

// withID returns a top-level invocation with id.
func withID(id string) state.Invocation { return topLevel(state.InvocationID(id), "task", nil) }

// withArgs returns a top-level invocation with arguments.
func withArgs(id string, args map[string]string) state.Invocation {
	return topLevel(state.InvocationID(id), "task", args)
}

// withTask returns an invocation of task with args id argsID.
func withTask(id string, task state.TaskID, argsID string) state.Invocation {
	inv := withID(id)
	inv.CallID = state.CallID{Task: task, ArgsID: argsID}
	return inv
}

func invocationIDCases() []hostileCase {
	return []hostileCase{
		invCase("empty", withID(""), false),
		invCase("255_bytes", withID(s255), true),
		invCase("256_bytes", withID(s256), false),
		{name: "256_bytes_not_truncated", call: func(c context.Context, b state.Backend) error {
			return b.UpsertInvocations(c, []state.Invocation{withID("t" + s255)})
		}, probe: probeInvocations(state.InvocationID("t" + s255[:254]))},
		invCase("invalid_utf8", withID("inv-\xff\xfe"), false),
		invCase("truncated_utf8_sequence", withID("inv-\xe2\x82"), false),
		invCase("nul_byte", withID("inv\x00x"), false),
		{name: "nul_byte_not_truncated", call: func(c context.Context, b state.Backend) error {
			return b.UpsertInvocations(c, []state.Invocation{withID("nul\x00x")})
		}, probe: probeInvocations("nul")},
		invCase("sql_injection", withID(sqlInjection), true),
		invCase("double_quote_and_backtick", withID("\"inv\" `x` \\\"y"), true),
		invCase("percent", withArgs("inv%", map[string]string{"which": "percent"}), true),
		invCase("underscore", withArgs("inv_", map[string]string{"which": "underscore"}), true),
		invCase("backslash", withArgs(`inv\`, map[string]string{"which": "backslash"}), true),
		invCase("emoji", withID("inv-🚀-✓-日本"), true),
		invCase("emoji_255_bytes", withID(emoji255), true),
		invCase("emoji_256_bytes_64_runes", withID(emoji256), false),
		invCase("255_runes_510_bytes", withID(runes255), false),
		invCase("control_characters", withID("inv\n\t\r\x01\x7f"), true),
		invCase("trailing_space_is_distinct", withArgs("inv ", map[string]string{"which": "trailing"}), true),
		invCase("leading_space_is_distinct", withArgs(" inv", map[string]string{"which": "leading"}), true),
		invCase("upper_case_is_distinct", withArgs("INV%", map[string]string{"which": "upper"}), true),
		invCase("without_space_still_itself", withArgs("inv", map[string]string{"which": "plain"}), true),
		{name: "lookalike_ids_read_back_as_themselves", call: func(context.Context, state.Backend) error { return nil },
			check: func(t *testing.T, b state.Backend) {
				for id, which := range map[string]string{
					"inv%": "percent", "inv_": "underscore", `inv\`: "backslash", "inv ": "trailing",
					" inv": "leading", "INV%": "upper", "inv": "plain",
				} {
					want := withArgs(id, map[string]string{"which": which})
					wantInvocation(t, "Invocation("+id+")", mustInvocation(t, b, want.ID), want)
				}
			}},
	}
}

func invocationFieldCases() []hostileCase {
	mod := func(m, f string) state.TaskID { return state.TaskID{Module: m, FuncName: f} }
	wf := func(id string, mutate func(*state.Invocation)) state.Invocation {
		inv := withID(id)
		mutate(&inv)
		return inv
	}
	return []hostileCase{
		invCase("task_empty_module", withTask("f-1", mod("", "f"), state.NoArgs), false),
		invCase("task_empty_func", withTask("f-2", mod("m", ""), state.NoArgs), false),
		invCase("task_func_with_dot", withTask("f-3", mod("m", "f.g"), state.NoArgs), false),
		invCase("task_module_with_dots", withTask("f-4", mod("pkg.sub.mod", "f"), state.NoArgs), true),
		invCase("task_key_255_bytes", withTask("f-5", mod(s255[:253], "f"), state.NoArgs), true),
		invCase("task_key_256_bytes", withTask("f-6", mod(s255[:254], "f"), state.NoArgs), false),
		invCase("task_module_sql_injection", withTask("f-7", mod(sqlInjection, "f"), state.NoArgs), true),
		invCase("task_invalid_utf8", withTask("f-8", mod("m\xff", "f"), state.NoArgs), false),
		invCase("task_nul", withTask("f-9", mod("m", "f\x00"), state.NoArgs), false),
		invCase("args_id_with_colon", withTask("f-10", task("t"), "a:b"), false),
		invCase("args_id_empty", withTask("f-11", task("t"), ""), false),
		invCase("args_id_256_bytes", withTask("f-12", task("t"), s256), false),
		invCase("longest_task_and_args_id", withTask("f-13", mod(s255[:253], "f"), s255), true),
		invCase("args_id_with_dots_and_percent", withTask("f-14", task("t"), "a.b%_c"), true),
		invCase("argument_metacharacters", withArgs("f-15", map[string]string{
			`"quoted"`: `{"a": 1}` + "\n" + sqlInjection, "emoji 🚀": "日本\t\r\x01\x7f\u2028", `back\slash`: `%_\`,
		}), true),
		invCase("argument_empty_name_and_value", withArgs("f-16", map[string]string{"": ""}), true),
		invCase("argument_long_value", withArgs("f-17", map[string]string{"big": strings.Repeat("xyz", 40000)}), true),
		invCase("argument_long_name", withArgs("f-18", map[string]string{s256 + s256: "v"}), true),
		// Argument text must be valid UTF-8 without NUL bytes (ValidateText).
		invCase("argument_value_invalid_utf8", withArgs("f-19", map[string]string{"a": "\xff"}), false),
		invCase("argument_name_invalid_utf8", withArgs("f-20", map[string]string{"\xc3": "v"}), false),
		invCase("argument_value_nul", withArgs("f-21", map[string]string{"a": "x\x00y"}), false),
		invCase("argument_name_nul", withArgs("f-22", map[string]string{"a\x00": "v"}), false),
		invCase("workflow_id_empty", wf("f-23", func(i *state.Invocation) { i.Workflow.WorkflowID = "" }), false),
		invCase("workflow_type_zero", wf("f-24", func(i *state.Invocation) { i.Workflow.WorkflowType = state.TaskID{} }), false),
		invCase("workflow_parent_256_bytes", wf("f-25", func(i *state.Invocation) { i.Workflow.ParentWorkflowID = state.InvocationID(s256) }), false),
		invCase("workflow_parent_invalid_utf8", wf("f-26", func(i *state.Invocation) { i.Workflow.ParentWorkflowID = "\xff" }), false),
		invCase("parent_invocation_256_bytes", wf("f-27", func(i *state.Invocation) { i.ParentInvocationID = state.InvocationID(s256) }), false),
		invCase("parent_invocation_nul", wf("f-28", func(i *state.Invocation) { i.ParentInvocationID = "p\x00" }), false),
		invCase("other_workflow_with_parents", wf("f-29", func(i *state.Invocation) {
			i.Workflow = state.WorkflowIdentity{WorkflowID: "wf-%", WorkflowType: task("other"), ParentWorkflowID: sqlInjection}
			i.ParentInvocationID = "parent_'\""
		}), true),
	}
}

func historyCases() []hostileCase {
	rec := func(mutate func(*state.InvocationHistory)) state.InvocationHistory {
		h := record(state.StatusRunning, baseTime)
		mutate(&h)
		return h
	}
	at := func(ts time.Time) state.InvocationHistory {
		return rec(func(h *state.InvocationHistory) { h.Timestamp, h.StatusRecord.Timestamp = ts, ts })
	}
	kolkata := time.FixedZone("IST", 5*3600+1800)
	return []hostileCase{
		histCase("zero_timestamp", "h-1", rec(func(h *state.InvocationHistory) { h.Timestamp = time.Time{} }), false),
		histCase("zero_status_timestamp", "h-2", rec(func(h *state.InvocationHistory) { h.StatusRecord.Timestamp = time.Time{} }), false),
		histCase("year_10000", "h-3", at(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), false),
		histCase("unknown_status", "h-4", rec(func(h *state.InvocationHistory) { h.StatusRecord.Status = "done" }), false),
		histCase("empty_status", "h-5", rec(func(h *state.InvocationHistory) { h.StatusRecord.Status = "" }), false),
		histCase("status_in_upper_case", "h-6", rec(func(h *state.InvocationHistory) { h.StatusRecord.Status = "RUNNING" }), false),
		histCase("non_utc_timestamp", "h-7", at(time.Date(2026, 1, 1, 17, 30, 0, 654321000, kolkata)), true),
		histCase("before_1970", "h-8", at(time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)), true),
		histCase("earliest_timestamp", "h-9", at(minTimestamp), true),
		histCase("latest_timestamp", "h-10", at(maxTimestamp), true),
		histCase("empty_invocation_id", "", record(state.StatusRunning, baseTime), false),
		histCase("invocation_id_256_bytes", state.InvocationID(s256), record(state.StatusRunning, baseTime), false),
		histCase("invocation_id_sql_injection", sqlInjection, record(state.StatusRunning, baseTime), true),
		histCase("runner_id_256_bytes", "h-11", rec(func(h *state.InvocationHistory) { h.StatusRecord.RunnerID = s256 }), false),
		histCase("runner_context_id_nul", "h-12", rec(func(h *state.InvocationHistory) { h.RunnerContextID = "r\x00" }), false),
		histCase("registered_by_invalid_utf8", "h-13", rec(func(h *state.InvocationHistory) { h.RegisteredByInvID = "\xff" }), false),
		histCase("text_fields_metacharacters", "h-14", rec(func(h *state.InvocationHistory) {
			h.StatusRecord.RunnerID = `"quoted" \ <tag> & 🚀`
			h.RunnerContextID = sqlInjection + "\n\t\x01"
			h.RegisteredByInvID = "%_\\'\u2028"
		}), true),
		histCase("empty_optional_fields", "h-15", rec(func(h *state.InvocationHistory) {
			h.StatusRecord.RunnerID, h.RunnerContextID, h.RegisteredByInvID = "", "", ""
		}), true),
		{name: "no_ids_is_a_no_op", call: func(c context.Context, b state.Backend) error {
			return b.AddHistory(c, nil, record(state.StatusRunning, baseTime))
		}, check: func(t *testing.T, b state.Backend) {
			for _, h := range allHistory(t, b) {
				if h.InvocationID == "" {
					t.Fatalf("AddHistory(no ids) stored a record without an invocation id: %+v", h)
				}
			}
		}},
	}
}

func runnerCases() []hostileCase {
	r := func(id, cls string) state.RunnerContext { return runner(id, cls, 1, "host", 1) }
	deep := make([]state.RunnerContext, state.MaxRunnerDepth+1)
	for i := range deep {
		deep[i] = r("deep-"+strings.Repeat("x", i), "Cls")
	}
	withHost := func(host string) state.RunnerContext { return runner("r-host", "Cls", 1, host, 1) }
	return []hostileCase{
		runnerCase("empty_id", r("", "Cls"), false),
		runnerCase("empty_cls", r("r-1", ""), false),
		runnerCase("parent_with_empty_id", chain(r("r-2", "Cls"), r("", "Cls")), false),
		runnerCase("parent_with_empty_cls", chain(r("r-3", "Cls"), r("r-3-parent", "")), false),
		runnerCase("grandparent_invalid_utf8", chain(r("r-4", "Cls"), r("r-4-parent", "Cls"), r("\xff", "Cls")), false),
		runnerCase("id_255_bytes", r(s255, "Cls"), true),
		runnerCase("id_256_bytes", r(s256, "Cls"), false),
		runnerCase("id_nul", r("r\x00", "Cls"), false),
		runnerCase("cls_256_bytes", r("r-5", s256), false),
		runnerCase("hostname_256_bytes", withHost(s256), false),
		runnerCase("hostname_invalid_utf8", withHost("h\xff"), false),
		runnerCase("hostname_empty", withHost(""), true),
		runnerCase("metacharacters", chain(r(sqlInjection+`%_\`, "`Cls`\"🚀"), r("parent'\"", "P")), true),
		runnerCase("chain_deeper_than_limit", chain(deep...), false),
		runnerCase("negative_numbers", runner("r-neg", "Cls", -1, "h", math.MinInt64), true),
	}
}

func workflowCases() []hostileCase {
	wf := func(id string, typ state.TaskID, parent string) state.WorkflowIdentity {
		return state.WorkflowIdentity{WorkflowID: state.InvocationID(id), WorkflowType: typ, ParentWorkflowID: state.InvocationID(parent)}
	}
	sub := func(name string, wfID, subID string) hostileCase {
		return refused(name, func(c context.Context, b state.Backend) error {
			return b.StoreWorkflowSubInvocation(c, state.InvocationID(wfID), state.InvocationID(subID))
		})
	}
	return []hostileCase{
		runCase("run_empty_id", wf("", task("t"), ""), false),
		runCase("run_zero_type", wf("w-1", state.TaskID{}, ""), false),
		runCase("run_type_func_with_dot", wf("w-2", state.TaskID{Module: "m", FuncName: "a.b"}, ""), false),
		runCase("run_parent_256_bytes", wf("w-3", task("t"), s256), false),
		runCase("run_id_invalid_utf8", wf("w-\xff", task("t"), ""), false),
		runCase("run_metacharacters", wf(sqlInjection, state.TaskID{Module: "m%_", FuncName: `f\'`}, "p🚀"), true),
		dataCase("data_empty_key", "w-4", "", []byte("v"), false),
		dataCase("data_empty_workflow_id", "", "k", []byte("v"), false),
		dataCase("data_key_255_bytes", "w-5", s255, []byte("v"), true),
		dataCase("data_key_256_bytes", "w-6", s256, []byte("v"), false),
		dataCase("data_key_nul", "w-7", "k\x00", []byte("v"), false),
		dataCase("data_key_invalid_utf8", "w-8", "k\xff", []byte("v"), false),
		dataCase("data_key_metacharacters", "w-9", sqlInjection+`%_\"🚀`, []byte("v"), true),
		dataCase("data_value_binary", "w-10", "k", []byte{0, 0xff, 0xfe, 0, '\'', '"'}, true),
		sub("sub_invocation_empty_id", "w-11", ""),
		sub("sub_invocation_empty_workflow", "", "s-1"),
		sub("sub_invocation_256_bytes", "w-12", s256),
		{name: "sub_invocation_metacharacters", call: func(c context.Context, b state.Backend) error {
			return b.StoreWorkflowSubInvocation(c, sqlInjection, `%_\`)
		}, check: func(t *testing.T, b state.Backend) { wantSubs(t, b, sqlInjection, `%_\`) }},
	}
}

func appInfoPayloadCases() []hostileCase {
	info := func(id string, mutate func(*state.AppInfo)) state.AppInfo {
		i := state.AppInfo{AppID: id, Module: "m"}
		mutate(&i)
		return i
	}
	same := func(*state.AppInfo) {}
	binary := []byte{0, 1, 0xff, 0xfe, 0xc3, 0x28, 0, '\'', '"', '\\'}
	return []hostileCase{
		infoCase("app_id_empty", info("", same), false),
		infoCase("app_id_256_bytes", info(s256, same), false),
		infoCase("app_id_255_bytes", info(s255, same), true),
		infoCase("app_id_invalid_utf8", info("app\xff", same), false),
		infoCase("module_nul", info("app-1", func(i *state.AppInfo) { i.Module = "m\x00" }), false),
		infoCase("config_filepath_invalid_utf8", info("app-2", func(i *state.AppInfo) { i.ConfigFilepath = "/etc/\xff" }), false),
		infoCase("config_nan", info("app-3", func(i *state.AppInfo) { i.ConfigValues = map[string]any{"x": math.NaN()} }), false),
		infoCase("config_infinity", info("app-4", func(i *state.AppInfo) { i.ConfigValues = map[string]any{"x": math.Inf(1)} }), false),
		infoCase("config_channel", info("app-5", func(i *state.AppInfo) { i.ConfigValues = map[string]any{"x": make(chan int)} }), false),
		infoCase("metacharacters", info(sqlInjection, func(i *state.AppInfo) {
			i.Module, i.AppVariable = `"m"`+"`x`", `%_\🚀`
			i.ConfigFilepath, i.ModuleFilepath = "C:\\path with spaces\\c.yaml", "/srv/"+strings.Repeat("long/", 100)
			i.ConfigValues = map[string]any{sqlInjection: `"\`, "": "empty key"}
		}), true),
		payloadCase("payload_id_empty", "", []byte("x"), false),
		payloadCase("payload_id_256_bytes", state.InvocationID(s256), []byte("x"), false),
		payloadCase("payload_id_nul", "p\x00", []byte("x"), false),
		payloadCase("payload_binary", "p-1", binary, true),
		payloadCase("payload_empty", "p-2", []byte{}, true),
		payloadCase("payload_sql_injection_id", sqlInjection, []byte(sqlInjection), true),
	}
}

func readCases() []hostileCase {
	type b = state.Backend
	type c = context.Context
	histRange := func(start, end time.Time, n int) func(c, b) error {
		return rangeCall(func(be b, cx c) func(func([]state.InvocationHistory, error) bool) {
			return be.HistoryInTimeRange(cx, start, end, n)
		})
	}
	idRange := func(start, end time.Time, n int) func(c, b) error {
		return rangeCall(func(be b, cx c) func(func([]state.InvocationID, error) bool) {
			return be.InvocationIDsInTimeRange(cx, start, end, n)
		})
	}
	later := baseTime.Add(time.Hour)
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	return []hostileCase{
		refused("invocation_empty_id", func(cx c, be b) error { _, err := be.Invocation(cx, ""); return err }),
		refused("invocation_256_bytes", func(cx c, be b) error { _, err := be.Invocation(cx, state.InvocationID(s256)); return err }),
		refused("invocations_empty_id_in_list", func(cx c, be b) error {
			_, err := be.Invocations(cx, []state.InvocationID{"ok", ""})
			return err
		}),
		refused("children_empty_parent", func(cx c, be b) error { _, err := be.ChildInvocations(cx, ""); return err }),
		refused("ids_by_workflow_invalid_utf8", func(cx c, be b) error {
			_, err := be.InvocationIDsByWorkflow(cx, state.WorkflowFilter{WorkflowID: "\xff"})
			return err
		}),
		refused("ids_by_workflow_half_a_type", func(cx c, be b) error {
			_, err := be.InvocationIDsByWorkflow(cx, state.WorkflowFilter{WorkflowType: state.TaskID{Module: "m"}})
			return err
		}),
		refused("history_empty_id", func(cx c, be b) error { _, err := be.History(cx, ""); return err }),
		refused("result_empty_id", func(cx c, be b) error { _, err := be.Result(cx, ""); return err }),
		refused("exception_nul_id", func(cx c, be b) error { _, err := be.Exception(cx, "e\x00"); return err }),
		refused("runs_of_zero_type", func(cx c, be b) error { _, err := be.WorkflowRunsOfType(cx, state.TaskID{}); return err }),
		refused("workflow_data_empty_key", func(cx c, be b) error { _, err := be.WorkflowData(cx, "w", ""); return err }),
		refused("workflow_data_empty_workflow", func(cx c, be b) error { _, err := be.WorkflowData(cx, "", "k"); return err }),
		refused("sub_invocations_empty_workflow", func(cx c, be b) error { _, err := be.WorkflowSubInvocations(cx, ""); return err }),
		refused("runner_context_empty_id", func(cx c, be b) error { _, err := be.RunnerContext(cx, ""); return err }),
		refused("runner_contexts_empty_id_in_list", func(cx c, be b) error {
			_, err := be.RunnerContexts(cx, []string{"ok", ""})
			return err
		}),
		refused("match_invalid_utf8", func(cx c, be b) error { _, err := be.MatchRunnerContexts(cx, "\xff"); return err }),
		refused("app_info_empty_id", func(cx c, be b) error { _, err := be.AppInfo(cx, ""); return err }),
		refused("history_range_batch_size_0", histRange(baseTime, later, 0)),
		refused("history_range_batch_size_negative", histRange(baseTime, later, -1)),
		refused("history_range_start_after_end", histRange(later, baseTime, 10)),
		refused("history_range_end_after_year_9999", histRange(baseTime, year10000, 10)),
		refused("ids_range_batch_size_0", idRange(baseTime, later, 0)),
		refused("ids_range_start_after_end", idRange(later, baseTime, 10)),
	}
}

func atomicityCases() []hostileCase {
	existing := withArgs("a-existing", map[string]string{"v": "original"})
	changed := withArgs("a-existing", map[string]string{"v": "changed"})
	return []hostileCase{
		invCase("setup", existing, true),
		{name: "upsert_invalid_in_the_middle", call: func(c context.Context, b state.Backend) error {
			return b.UpsertInvocations(c, []state.Invocation{withID("a-1"), withID(""), withID("a-3")})
		}, probe: probeInvocations("a-1", "a-3")},
		{name: "upsert_invalid_last_keeps_existing", call: func(c context.Context, b state.Backend) error {
			return b.UpsertInvocations(c, []state.Invocation{changed, withID("a-4"), withTask("a-5", task("t"), "x:y")})
		}, probe: func(t *testing.T, b state.Backend) {
			probeInvocations("a-4", "a-5")(t, b)
			wantInvocation(t, "existing invocation after a refused batch", mustInvocation(t, b, existing.ID), existing)
		}},
		{name: "add_history_empty_id_in_the_middle", call: func(c context.Context, b state.Backend) error {
			return b.AddHistory(c, []state.InvocationID{"a-6", "", "a-7"}, record(state.StatusRunning, baseTime))
		}, probe: func(t *testing.T, b state.Backend) {
			wantHistory(t, "History(a-6)", mustHistory(t, b, "a-6"), nil)
			wantHistory(t, "History(a-7)", mustHistory(t, b, "a-7"), nil)
		}},
		{name: "add_history_oversized_id_last", call: func(c context.Context, b state.Backend) error {
			return b.AddHistory(c, []state.InvocationID{"a-8", state.InvocationID(s256)}, record(state.StatusRunning, baseTime))
		}, probe: func(t *testing.T, b state.Backend) {
			wantHistory(t, "History(a-8)", mustHistory(t, b, "a-8"), nil)
		}},
	}
}
