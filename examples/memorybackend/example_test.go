package memorybackend_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/state"
)

// Two backends over one Store: the same app id shares data, another app id
// sees none of it.
func ExampleStore_Open() {
	ctx := context.Background()
	store := memorybackend.NewStore()
	a := store.Open("billing")
	defer a.Close()
	sameApp := store.Open("billing")
	defer sameApp.Close()
	otherApp := store.Open("reports")
	defer otherApp.Close()

	if err := a.SetResult(ctx, "inv-1", []byte(`{"total": 42}`)); err != nil {
		fmt.Println(err)
		return
	}
	result, err := sameApp.Result(ctx, "inv-1")
	fmt.Printf("same app: %s %v\n", result, err)
	_, err = otherApp.Result(ctx, "inv-1")
	fmt.Println("other app: not found:", errors.Is(err, state.ErrNotFound))
	// Output:
	// same app: {"total": 42} <nil>
	// other app: not found: true
}

// The time-range iterators yield batches; a for-range loop reads them all.
func ExampleBackend_HistoryInTimeRange() {
	ctx := context.Background()
	b := memorybackend.NewStore().Open("")
	defer b.Close()

	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, s := range []state.Status{state.StatusRegistered, state.StatusPending, state.StatusRunning} {
		ts := start.Add(time.Duration(i) * time.Second)
		h := state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: s, Timestamp: ts}}
		if err := b.AddHistory(ctx, []state.InvocationID{"inv-1"}, h); err != nil {
			fmt.Println(err)
			return
		}
	}
	for batch, err := range b.HistoryInTimeRange(ctx, start, start.Add(time.Minute), 2) {
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, h := range batch {
			fmt.Print(h.StatusRecord.Status, " ")
		}
		fmt.Println("| end of batch")
	}
	// Output:
	// registered pending | end of batch
	// running | end of batch
}

// A consumer that records the cursor of each change it processed resumes
// after it, missing and repeating nothing.
func ExampleBackend_Watch() {
	ctx := context.Background()
	b := memorybackend.NewStore().Open("")
	defer b.Close()

	ts := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := state.InvocationHistory{Timestamp: ts, StatusRecord: state.StatusRecord{Status: state.StatusRunning, Timestamp: ts}}
	if err := b.AddHistory(ctx, []state.InvocationID{"inv-1"}, h); err != nil {
		fmt.Println(err)
		return
	}
	if err := b.SetResult(ctx, "inv-1", []byte("42")); err != nil {
		fmt.Println(err)
		return
	}
	var processed state.ChangeCursor // kept somewhere durable by a real consumer
	for c, err := range b.Watch(ctx, state.WatchRequest{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("first watch:", c.Kind, c.InvocationID, c.Status)
		processed = c.Cursor
		break // a crash, say
	}
	for c, err := range b.Watch(ctx, state.WatchRequest{After: processed}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("resumed:", c.Kind, c.InvocationID)
	}
	// Output:
	// first watch: history inv-1 running
	// resumed: result inv-1
}
