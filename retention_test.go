package statebackend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/sqlite"
)

// TestRetentionOptionValidated proves that WithRetention refuses negative
// settings with ErrInvalidArgument, naming the field, and opens nothing.
func TestRetentionOptionValidated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.db")
	for _, c := range []struct {
		r     statebackend.Retention
		field string
	}{
		{statebackend.Retention{OlderThan: -time.Hour}, "Retention.OlderThan"},
		{statebackend.Retention{OlderThan: time.Hour, Interval: -time.Second}, "Retention.Interval"},
		{statebackend.Retention{OlderThan: time.Hour, BatchSize: -1}, "Retention.BatchSize"},
		{statebackend.Retention{OlderThan: time.Hour, BatchTimeout: -time.Second}, "Retention.BatchTimeout"},
	} {
		_, err := statebackend.Open(sqlite.Open(path), statebackend.WithRetention(c.r))
		wantErr(t, err, statebackend.ErrInvalidArgument, c.field)
	}
}

// TestBackgroundPrunerStopsOnClose proves that the background pruner runs
// and that Close waits for it: no report arrives after Close returns.
func TestBackgroundPrunerStopsOnClose(t *testing.T) {
	t.Parallel()
	var reports, late atomic.Int64
	var closed atomic.Bool
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "r.db")), statebackend.WithRetention(statebackend.Retention{
		OlderThan: time.Hour, Interval: 5 * time.Millisecond,
		Report: func(r statebackend.PruneReport) {
			if closed.Load() {
				late.Add(1)
			}
			if r.Err == nil {
				reports.Add(1)
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); reports.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the background pruner reported fewer than 3 prunes in 30 s")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	n := reports.Load()
	time.Sleep(50 * time.Millisecond) // ten intervals: a pruner still running would report
	if late.Load() > 0 || reports.Load() != n {
		t.Fatalf("the pruner reported %d prunes after Close returned", reports.Load()-n+late.Load())
	}
}

// TestLease proves the lease the pruner takes where the database has no
// advisory lock: one holder at a time, free again once released, taken
// over once expired.
func TestLease(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lease.db")
	a, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := statebackend.Open(sqlite.Open(path))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	release, ok, err := statebackend.Inside(a).TryLease(ctx, "x")
	if err != nil || !ok {
		t.Fatalf("a free lease: ok %t, %v", ok, err)
	}
	if _, ok, err := statebackend.Inside(b).TryLease(ctx, "x"); err != nil || ok {
		t.Fatalf("a held lease was taken: ok %t, %v", ok, err)
	}
	if r, ok, err := statebackend.Inside(b).TryLease(ctx, "y"); err != nil || !ok {
		t.Fatalf("another lease: ok %t, %v", ok, err)
	} else {
		r()
	}
	release()
	release, ok, err = statebackend.Inside(b).TryLease(ctx, "x")
	if err != nil || !ok {
		t.Fatalf("a released lease: ok %t, %v", ok, err)
	}
	release()
	// A holder that died: its lease expired a second ago.
	err = statebackend.Inside(a).DB().Model(&entities.Lease{}).Where("name = ?", "x").
		Updates(map[string]any{"holder": "dead:1:x", "expires_at": time.Now().Add(-time.Second).UnixMicro()}).Error
	if err != nil {
		t.Fatal(err)
	}
	release, ok, err = statebackend.Inside(a).TryLease(ctx, "x")
	if err != nil || !ok {
		t.Fatalf("an expired lease: ok %t, %v", ok, err)
	}
	release()
}

// TestPruneBatchTimeoutShrinks proves that a batch that runs out of its
// time is retried at half the size, down to one invocation, and that a
// prune whose every batch times out fails with the deadline and deletes
// nothing: with a timeout of one nanosecond no transaction can finish.
func TestPruneBatchTimeoutShrinks(t *testing.T) {
	t.Parallel()
	log := &sizeLog{}
	b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "r.db")), statebackend.WithLogger(slog.New(log)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	task := statebackend.TaskID{Module: "m", FuncName: "f"}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []statebackend.InvocationID
	for i := range 8 {
		id := statebackend.InvocationID(fmt.Sprintf("inv-%d", i))
		ids = append(ids, id)
		inv := statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: "a"},
			Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}
		if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
			t.Fatal(err)
		}
	}
	h := statebackend.InvocationHistory{Timestamp: old, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusSuccess, Timestamp: old}}
	if err := b.AddHistory(ctx, ids, h); err != nil {
		t.Fatal(err)
	}
	stats, err := b.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour, BatchSize: 8, BatchTimeout: time.Nanosecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Prune with batches that cannot finish: %v, want the deadline", err)
	}
	if stats.Units != 0 || stats.Batches != 0 {
		t.Fatalf("Prune reported %+v, want nothing deleted", stats)
	}
	if got, want := log.sizes(), []int64{4, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("batch sizes after timeouts %v, want %v", got, want)
	}
	for _, id := range ids {
		if _, err := b.Invocation(ctx, id); err != nil {
			t.Fatalf("invocation %s after the failed prune: %v", id, err)
		}
	}
}

// TestPruneErrorsPrefixedOnce proves that Prune's errors carry the prefix
// "statebackend: Prune:" once, whether they come from the database, from
// a context cancelled between batches, from a batch's timeout or from a
// closed backend, and still wrap the cause.
func TestPruneErrorsPrefixedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	open := func(t *testing.T) (*statebackend.Store, statebackend.Pruner) {
		b, err := statebackend.Open(sqlite.Open(filepath.Join(t.TempDir(), "r.db")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		task := statebackend.TaskID{Module: "m", FuncName: "f"}
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		var ids []statebackend.InvocationID
		for i := range 4 {
			id := statebackend.InvocationID(fmt.Sprintf("inv-%d", i))
			ids = append(ids, id)
			inv := statebackend.Invocation{ID: id, CallID: statebackend.CallID{Task: task, ArgsID: "a"},
				Workflow: statebackend.WorkflowIdentity{WorkflowID: id, WorkflowType: task}}
			if err := b.UpsertInvocations(ctx, []statebackend.Invocation{inv}); err != nil {
				t.Fatal(err)
			}
		}
		h := statebackend.InvocationHistory{Timestamp: old, StatusRecord: statebackend.StatusRecord{Status: statebackend.StatusSuccess, Timestamp: old}}
		if err := b.AddHistory(ctx, ids, h); err != nil {
			t.Fatal(err)
		}
		return b, b
	}
	for _, c := range []struct {
		name  string
		prune func(t *testing.T) error
		cause error
	}{
		{"database error", func(t *testing.T) error {
			b, p := open(t)
			if err := statebackend.Inside(b).DB().Exec("DROP TABLE " + statebackend.Inside(b).Repo().Tables.Name("Invocation")).Error; err != nil {
				t.Fatal(err)
			}
			_, err := p.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour})
			return err
		}, nil},
		{"cancelled between batches", func(t *testing.T) error {
			_, p := open(t)
			stop, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := p.Prune(stop, statebackend.PruneOptions{OlderThan: time.Hour, BatchSize: 1, Progress: func(statebackend.PruneStats) { cancel() }})
			return err
		}, context.Canceled},
		{"cancelled before", func(t *testing.T) error {
			_, p := open(t)
			stop, cancel := context.WithCancel(ctx)
			cancel()
			_, err := p.Prune(stop, statebackend.PruneOptions{OlderThan: time.Hour})
			return err
		}, context.Canceled},
		{"batch timeout", func(t *testing.T) error {
			_, p := open(t)
			_, err := p.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour, BatchTimeout: time.Nanosecond})
			return err
		}, context.DeadlineExceeded},
		{"closed", func(t *testing.T) error {
			b, p := open(t)
			b.Close()
			_, err := p.Prune(ctx, statebackend.PruneOptions{OlderThan: time.Hour})
			return err
		}, statebackend.ErrClosed},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.prune(t)
			if err == nil {
				t.Fatal("Prune: no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "statebackend: Prune: ") || strings.Count(msg, "statebackend:") != 1 {
				t.Errorf("Prune: error %q, want the prefix \"statebackend: Prune:\" once", msg)
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("Prune: error %q does not wrap %v", err, c.cause)
			}
		})
	}
}

// sizeLog records the batch sizes the prune logs when it shrinks.
type sizeLog struct {
	mu     sync.Mutex
	shrunk []int64
}

func (l *sizeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *sizeLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *sizeLog) WithGroup(string) slog.Handler            { return l }
func (l *sizeLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "prune batch timed out, retrying smaller" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "batch_size" {
			l.mu.Lock()
			l.shrunk = append(l.shrunk, a.Value.Int64())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *sizeLog) sizes() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.shrunk)
}

// wantErr checks that err wraps target and says text.
func wantErr(t *testing.T, err, target error, text string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v, want one wrapping %q", err, target)
		return
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}
