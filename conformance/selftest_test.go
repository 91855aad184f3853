package conformance_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/state"
)

// The suite must be able to fail. TestBrokenBackends runs it against
// backends broken on purpose: each wraps the (correct) memory backend and
// breaks one promise. A variant is caught when the suite run against it
// exits non-zero AND reports a failing test of the group that owns the
// promise; a crash, a build failure or a timeout does not count.
//
// Each variant runs in a child process, this test binary re-executed with
// -test.run '^TestBrokenBackendChild$' and the variant's name in
// brokenVariantEnv, so the suite's verdict is an ordinary test result to
// read. The control variant "none" wraps without breaking anything and must
// pass, which shows the failures come from the breakage.

// brokenVariantEnv names the variant a child process runs the suite against.
const brokenVariantEnv = "STATEBACKEND_BROKEN_VARIANT"

// brokenVariant is a backend broken in one way.
type brokenVariant struct {
	name  string
	group string // the group that must catch it; "" for the control
	wrap  func(b wrapped) state.Backend
}

// brokenVariants returns every variant, the control first.
func brokenVariants() []brokenVariant {
	return []brokenVariant{
		{"none", "", func(b wrapped) state.Backend { return b }},

		{"arguments_empty_as_nil", "invocations", func(b wrapped) state.Backend { return nilArguments{b} }},
		{"upsert_first_wins", "invocations", func(b wrapped) state.Backend { return firstWriteWins{b} }},
		{"ids_by_workflow_ignore_type", "invocations", func(b wrapped) state.Backend { return typeFilterIgnored{b} }},
		{"children_unsorted", "invocations", func(b wrapped) state.Backend { return reversedChildren{b} }},

		{"history_reversed", "history", func(b wrapped) state.Backend { return reversedHistory{b} }},
		{"history_ties_reversed", "history", func(b wrapped) state.Backend { return reversedTies{b} }},
		{"history_millis", "history", func(b wrapped) state.Backend { return millisHistory{b} }},
		{"history_local_zone", "history", func(b wrapped) state.Backend { return localZoneHistory{b} }},

		{"range_exclusive_end", "timerange", func(b wrapped) state.Backend { return shiftedRange{b, 0, -time.Microsecond} }},
		{"range_exclusive_start", "timerange", func(b wrapped) state.Backend { return shiftedRange{b, time.Microsecond, 0} }},
		{"ids_iterator_repeats", "timerange", func(b wrapped) state.Backend { return repeatingIDs{b} }},
		{"history_iterator_skips", "timerange", func(b wrapped) state.Backend { return skippingHistory{b} }},
		{"history_offset_pagination", "timerange", func(b wrapped) state.Backend { return offsetHistory{b} }},

		{"result_missing_nil_error", "payloads", func(b wrapped) state.Backend { return nilForMissingResult{b} }},
		{"result_aliases_caller", "payloads", func(b wrapped) state.Backend { return aliasedResults{b} }},

		{"sub_invocations_list", "workflows", func(b wrapped) state.Backend { return subInvocationList{b} }},
		{"workflow_runs_unsorted", "workflows", func(b wrapped) state.Backend { return reversedRuns{b} }},

		{"match_underscore_wildcard", "runners", func(b wrapped) state.Backend { return likeMatch{b} }},
		{"match_ignore_case", "runners", func(b wrapped) state.Backend { return foldedMatch{b} }},
		{"runner_parent_dropped", "runners", func(b wrapped) state.Backend { return orphanRunner{b} }},

		{"discover_own_app_only", "appinfo", func(b wrapped) state.Backend { return ownAppDiscovery{b} }},

		{"purge_keeps_runners", "purge", func(b wrapped) state.Backend { return purgeKeepsRunners{b} }},

		{"purge_other_apps", "isolation", func(b wrapped) state.Backend { return leakyPurge{b} }},

		{"upsert_not_atomic", "validation", func(b wrapped) state.Backend { return oneByOneUpsert{b} }},
		{"zero_timestamp_defaulted", "validation", func(b wrapped) state.Backend { return defaultedTimestamp{b} }},

		{"close_is_noop", "lifecycle", func(b wrapped) state.Backend { return unclosable{b} }},
		{"upsert_ignores_cancel", "lifecycle", func(b wrapped) state.Backend { return uncancellableUpsert{b} }},
		{"iterator_ignores_cancel", "lifecycle", func(b wrapped) state.Backend { return uncancellableIterator{b} }},

		{"busy_under_contention", "concurrency", func(b wrapped) state.Backend { return busyWriter{b} }},

		{"prune_deletes_live_work", "retention", func(b wrapped) state.Backend { return purgingPruner{b} }},
		{"prune_ignores_cutoff", "retention", func(b wrapped) state.Backend { return cutoffIgnored{b} }},
		{"prune_ignores_dry_run", "retention", func(b wrapped) state.Backend { return dryRunIgnored{b} }},
		{"prune_zero_means_all", "retention", func(b wrapped) state.Backend { return zeroMeansAll{b} }},
		{"prune_leaves_partial_units", "retention", func(b wrapped) state.Backend { return partialPruner{b} }},
		{"prune_miscounts", "retention", func(b wrapped) state.Backend { return uncountedHistory{b} }},
		{"prune_exceeds_batch_size", "retention", func(b wrapped) state.Backend { return doubledBatches{b} }},
		{"prune_chases_new_rows", "retention", func(b wrapped) state.Backend { return chasingPruner{b} }},
		{"prune_kept_uncounted", "retention", func(b wrapped) state.Backend { return keptUncounted{b} }},

		{"browse_local_unbroken", "", func(b wrapped) state.Backend { return localBrowser{wrapped: b} }},
		{"browse_current_last_written", "browse", func(b wrapped) state.Backend { return localBrowser{wrapped: b, lastWritten: true} }},
		{"browse_pages_by_offset", "browse", func(b wrapped) state.Backend { return localBrowser{wrapped: b, offsets: true} }},
		{"browse_pages_repeat_boundary", "browse", func(b wrapped) state.Backend { return localBrowser{wrapped: b, inclusive: true} }},
		{"browse_pages_skip_boundary", "browse", func(b wrapped) state.Backend { return boundarySkipped{b} }},
		{"browse_next_on_last_page", "browse", func(b wrapped) state.Backend { return nextOnLastPage{b} }},
		{"browse_ignores_runner_filter", "browse", func(b wrapped) state.Backend { return runnerFilterIgnored{b} }},
		{"browse_ignores_parent_filter", "browse", func(b wrapped) state.Backend { return parentFilterIgnored{b} }},
		{"browse_counts_omit_history_only", "browse", func(b wrapped) state.Backend { return historyOnlyUncounted{b} }},
		{"browse_stuck_ignores_older_than", "browse", func(b wrapped) state.Backend { return stuckCutoffIgnored{b} }},
		{"browse_count_up_to_one_over", "browse", func(b wrapped) state.Backend { return boundedCounter{wrapped: b, slack: 1} }},
		{"browse_count_up_to_ignores_statuses", "browse", func(b wrapped) state.Backend { return boundedCounter{wrapped: b, dropStatuses: true} }},

		{"watch_resume_skips_one", "watch", func(b wrapped) state.Backend { return resumeSkipsOne{b} }},
		{"watch_resume_repeats", "watch", func(b wrapped) state.Backend { return resumeRepeats{b} }},
		{"watch_reorders_invocation", "watch", func(b wrapped) state.Backend { return reorderedWatch{b} }},
		{"watch_ignores_status_filter", "watch", func(b wrapped) state.Backend {
			return watchFilterIgnored{b, func(f *state.ChangeFilter) { f.Statuses = nil }}
		}},
		{"watch_ignores_workflow_filter", "watch", func(b wrapped) state.Backend {
			return watchFilterIgnored{b, func(f *state.ChangeFilter) { f.WorkflowID = "" }}
		}},
		{"watch_never_ends", "watch", func(b wrapped) state.Backend { return endlessWatch{b} }},
		{"watch_accepts_malformed_cursor", "watch", func(b wrapped) state.Backend { return lenientCursor{b} }},
		{"watch_cursor_never_expires", "watch", func(b wrapped) state.Backend { return unexpiredCursor{b} }},
		{"watch_swallows_cancel", "watch", func(b wrapped) state.Backend { return swallowedCancel{b} }},
		{"watch_latest_lags", "watch", func(b wrapped) state.Backend { return laggingLatest{b} }},
	}
}

// TestBrokenBackends checks that the suite catches every broken variant,
// each in the group that owns the broken promise.
func TestBrokenBackends(t *testing.T) {
	if os.Getenv(brokenVariantEnv) != "" {
		t.Skip("this is a child process of TestBrokenBackends")
	}
	for _, v := range brokenVariants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			out, code := runChild(t, v.name)
			if !bytes.Contains(out, []byte(childMarker(v.name))) {
				t.Fatalf("child (exit %d) never ran the suite against %q:\n%s", code, v.name, out)
			}
			if v.group == "" {
				if code != 0 {
					t.Fatalf("the suite fails the unbroken wrapper (exit %d):\n%s", code, failures(out))
				}
				return
			}
			if code == 0 {
				t.Fatalf("the suite passed a backend broken as %q", v.name)
			}
			if crash := crashLine(out); crash != "" {
				t.Fatalf("the suite crashed instead of failing (%s):\n%s", crash, failures(out))
			}
			caught := failingTests(out, v.group)
			if len(caught) == 0 {
				t.Fatalf("child exited %d without a failing test in group %q:\n%s", code, v.group, failures(out))
			}
			t.Logf("%s: caught by %s", v.name, strings.Join(caught, ", "))
		})
	}
}

// runChild runs the suite against variant in a child process and returns
// its output and exit code.
func runChild(t *testing.T, variant string) (out []byte, code int) {
	t.Helper()
	args := []string{"-test.run=^TestBrokenBackendChild$", "-test.count=1", "-test.timeout=5m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), brokenVariantEnv+"="+variant)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	default:
		t.Fatalf("run child for %q: %v", variant, err)
		return nil, 0
	}
}

// failingTests returns the names of the failed tests of group in a child's
// output: the "--- FAIL:" lines (indented for subtests) of tests under
// TestBrokenBackendChild/<group>/.
func failingTests(out []byte, group string) []string {
	prefix := "TestBrokenBackendChild/" + group + "/"
	var names []string
	for line := range strings.Lines(string(out)) {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: ")
		if ok && strings.HasPrefix(name, prefix) {
			name, _, _ = strings.Cut(name, " ")
			names = append(names, strings.TrimPrefix(name, "TestBrokenBackendChild/"))
		}
	}
	return names
}

// crashLine returns the line reporting a panic, a fatal runtime error or a
// timeout in a child's output, or "".
func crashLine(out []byte) string {
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// failures returns the lines of a child's output worth showing: failures,
// panics and the final verdict; the whole output when there are none.
func failures(out []byte) string {
	var keep []string
	for line := range strings.Lines(string(out)) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--- FAIL") || strings.HasPrefix(trimmed, "panic:") ||
			strings.Contains(trimmed, ".go:") || trimmed == "FAIL" {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return string(out)
	}
	return strings.Join(keep, "")
}

// childMarker is the line a child prints when it starts the suite, which
// tells a suite that failed from a child that never got to run it.
func childMarker(variant string) string {
	return "selftest: running the suite against the broken variant " + variant
}

// TestBrokenBackendChild runs the suite against the variant named in
// brokenVariantEnv; it runs only as a child of TestBrokenBackends.
func TestBrokenBackendChild(t *testing.T) {
	name := os.Getenv(brokenVariantEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestBrokenBackends")
	}
	i := slices.IndexFunc(brokenVariants(), func(v brokenVariant) bool { return v.name == name })
	if i < 0 {
		t.Fatalf("no broken variant %q", name)
	}
	v := brokenVariants()[i]
	fmt.Println(childMarker(v.name))
	store := memorybackend.NewStore()
	sh := &childState{opened: map[testing.TB][]state.Backend{}}
	conformance.Run(t, conformance.Harness{
		Open: func(t testing.TB, appID string) state.Backend {
			b := store.Open(appID)
			t.Cleanup(func() { _ = b.Close() })
			sh.register(t, b)
			return v.wrap(wrapped{Backend: b, appID: appID, t: t, shared: sh})
		},
	})
}

// wrapped is a correct backend as a variant receives it, with what the
// variant needs to break a promise that spans calls or backends.
type wrapped struct {
	state.Backend
	appID  string
	t      testing.TB // the conformance test that opened the backend
	shared *childState
}

// childState is the state the backends of one child process share, as the
// backends of one store share their data.
type childState struct {
	mu      sync.Mutex
	opened  map[testing.TB][]state.Backend // the correct backends each test opened
	subs    map[string][]state.InvocationID
	results map[string][]byte
	writing map[string]*atomic.Int32           // writes in flight, by app id
	written map[string]state.InvocationHistory // the last record written for each id
}

func (s *childState) register(t testing.TB, b state.Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened[t] = append(s.opened[t], b)
}

// key addresses a value of one app in a shared map.
func (b wrapped) key(id state.InvocationID) string { return b.appID + "\x00" + string(id) }

// forgetApp deletes the entries of b's app from m; the caller holds
// b.shared.mu.
func forgetApp[V any](b wrapped, m map[string]V) {
	for k := range m {
		if strings.HasPrefix(k, b.appID+"\x00") {
			delete(m, k)
		}
	}
}
