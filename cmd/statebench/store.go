package main

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/state"
)

// store is the part of state.Backend the workloads use. The gorm impl is the
// library's Backend itself; the raw impl is rawStore.
type store interface {
	UpsertInvocations(ctx context.Context, invs []state.Invocation) error
	Invocation(ctx context.Context, id state.InvocationID) (state.Invocation, error)
	AddHistory(ctx context.Context, ids []state.InvocationID, h state.InvocationHistory) error
	History(ctx context.Context, id state.InvocationID) ([]state.InvocationHistory, error)
	HistoryInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationHistory, error]
	InvocationIDsInTimeRange(ctx context.Context, start, end time.Time, batchSize int) iter.Seq2[[]state.InvocationID, error]
	SetResult(ctx context.Context, id state.InvocationID, data []byte) error
	Result(ctx context.Context, id state.InvocationID) ([]byte, error)
	Close() error
}

var (
	_ store = state.Backend(nil)
	_ store = (*rawStore)(nil)
)

// impls are the implementations statebench measures: the library (gorm),
// hand-written SQL (raw), and the library without its OpenTelemetry
// instrumentation (gorm-off) or recording into an in-memory SDK (gorm-sdk);
// see telemetry.go.
var impls = []string{"gorm", "raw", "gorm-off", "gorm-sdk"}

// implSets are the names -impl accepts for several impls at once.
var implSets = map[string][]string{
	"both":      {"gorm", "raw"},
	"telemetry": {"gorm-off", "gorm", "gorm-sdk"},
}

// parseImpls parses -impl: impls or sets of them, comma-separated.
func parseImpls(arg string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(arg, ",") {
		name = strings.TrimSpace(name)
		switch {
		case implSets[name] != nil:
			out = append(out, implSets[name]...)
		case slices.Contains(impls, name):
			out = append(out, name)
		default:
			return nil, fmt.Errorf("unknown -impl %q (%s, both, telemetry)", name, strings.Join(impls, ", "))
		}
	}
	return out, nil
}

// openStore opens the implementation impl (one of impls) on e.
func openStore(ctx context.Context, e *env, impl string) (store, error) {
	switch impl {
	case "raw":
		return openRaw(ctx, e)
	case "gorm-off":
		return openGorm(e, statebackend.WithoutTelemetry())
	case "gorm-sdk":
		return openSDK(e)
	}
	return openGorm(e)
}

// openGorm opens the library through statebackend.Open, with its warnings
// (retried writes) on stderr.
func openGorm(e *env, opts ...statebackend.Option) (state.Backend, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return e.openLibrary(append(opts, statebackend.WithLogger(log))...)
}

// retryCount returns the lock retries of a raw store so far (0 for gorm,
// which logs its own).
func retryCount(s store) int64 {
	if r, ok := s.(*rawStore); ok {
		return r.retries.Load()
	}
	return 0
}
