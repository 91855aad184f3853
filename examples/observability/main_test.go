package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun checks that the example prints a span for each kind of call,
// with the database conventions' attributes, and the metrics.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, filepath.Join(t.TempDir(), "state.db")); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		`"Name": "statebackend.StoreWorkflowRun"`,
		`"Name": "statebackend.UpsertInvocations"`,
		`"Name": "statebackend.AddHistory"`,
		`"Name": "statebackend.SetResult"`,
		`"Name": "statebackend.Result"`,
		`"Name": "statebackend.HistoryInTimeRange"`,
		`"Name": "statebackend.Purge"`,
		`"Key": "db.system.name"`,
		`"Key": "db.operation.name"`,
		`"Key": "db.collection.name"`,
		`"Key": "db.namespace"`,
		`"Key": "statebackend.app_id"`,
		`"Name": "statebackend.call.duration"`,
		`"Name": "statebackend.group_commit.size"`,
		`"Name": "statebackend.rows.pruned"`,
		`"Name": "db.client.connection.count"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if n := strings.Count(text, `"Name": "statebackend.AddHistory"`); n != 3 {
		t.Errorf("%d AddHistory spans, want 3", n)
	}
}
