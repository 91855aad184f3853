package entities

import (
	"slices"
	"strings"
	"testing"
)

func TestTableNames(t *testing.T) {
	tables, err := NewTables("orders", 63)
	if err != nil {
		t.Fatal(err)
	}
	data := tables.DataNames()
	want := []string{"results", "exceptions", "invocations", "runner_contexts", "history",
		"workflows", "app_info", "workflow_data", "workflow_sub_invocations"}
	if len(data) != len(want) {
		t.Fatalf("DataNames() = %v, want the %d tables of pynenc's state backend", data, len(want))
	}
	for i, name := range data {
		if !strings.HasPrefix(name, tables.Prefix()) || !strings.HasSuffix(name, "__state_backend_"+want[i]) {
			t.Errorf("DataNames()[%d] = %q, want %q prefixed with %q", i, name, "state_backend_"+want[i], tables.Prefix())
		}
	}
	all := tables.Names()
	if !slices.Equal(all[:len(data)], data) {
		t.Errorf("Names() = %v, want the data tables first: %v", all, data)
	}
	if got := all[len(data):]; len(got) != 4 || !strings.HasSuffix(got[0], "__state_backend_invocation_status") ||
		!strings.HasSuffix(got[1], "__state_backend_changes") ||
		!strings.HasSuffix(got[2], "_leases") || !strings.HasSuffix(got[3], "_migrations") {
		t.Errorf("Names() ends with %v, want the current-status, changes, leases and migrations tables", got)
	}
}
