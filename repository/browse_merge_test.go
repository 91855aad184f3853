package repository

import (
	"slices"
	"testing"
)

// TestMergeNewest checks the merge of range reads: newest first (then id
// descending), cut at the limit, and an invocation read from two ranges
// (its status changed between the two statements) listed once, at its
// newer status.
func TestMergeNewest(t *testing.T) {
	rows := []BrowseRow{
		{InvocationID: "a", Status: "running", StatusTimestamp: 10},
		{InvocationID: "b", Status: "running", StatusTimestamp: 20},
		{InvocationID: "c", Status: "success", StatusTimestamp: 20},
		{InvocationID: "a", Status: "success", StatusTimestamp: 30},
		{InvocationID: "d", Status: "failed", StatusTimestamp: 5},
	}
	ids := func(rs []BrowseRow) (out []string) {
		for _, r := range rs {
			out = append(out, r.InvocationID+":"+r.Status)
		}
		return out
	}
	got := ids(mergeNewest(slices.Clone(rows), 10))
	want := []string{"a:success", "c:success", "b:running", "d:failed"}
	if !slices.Equal(got, want) {
		t.Fatalf("mergeNewest = %v, want %v", got, want)
	}
	if got := ids(mergeNewest(slices.Clone(rows), 2)); !slices.Equal(got, want[:2]) {
		t.Fatalf("mergeNewest(limit 2) = %v, want %v", got, want[:2])
	}
}
