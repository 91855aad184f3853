package main

import (
	"context"
	"iter"
	"log/slog"
	"os"
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

// openStore opens the implementation impl ("gorm" or "raw") on e.
func openStore(ctx context.Context, e *env, impl string) (store, error) {
	if impl == "raw" {
		return openRaw(ctx, e)
	}
	return openGorm(e)
}

// openGorm opens the library through statebackend.Open, with its warnings
// (retried writes) on stderr.
func openGorm(e *env) (state.Backend, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return e.openLibrary(statebackend.WithLogger(log))
}

// retryCount returns the lock retries of a raw store so far (0 for gorm,
// which logs its own).
func retryCount(s store) int64 {
	if r, ok := s.(*rawStore); ok {
		return r.retries.Load()
	}
	return 0
}
