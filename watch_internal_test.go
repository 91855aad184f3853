package statebackend

import (
	"testing"

	"github.com/taskstate/statebackend/repository"
)

func TestDeliverable(t *testing.T) {
	rows := func(ids ...int64) []repository.ChangeRow {
		out := make([]repository.ChangeRow, len(ids))
		for i, id := range ids {
			out[i].ID = id
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		after    int64
		rows     []repository.ChangeRow
		settled  int64
		wantN    int
		wantPass int64
	}{
		{"consecutive", 4, rows(5, 6, 7), 0, 3, 0},
		{"nothing", 4, nil, 0, 0, 0},
		{"gap first", 4, rows(6, 7), 0, 0, 0},
		{"gap inside", 4, rows(5, 7, 8), 0, 1, 0},
		{"settled gap passed", 4, rows(6, 7), 7, 2, 0},
		{"settled gaps inside", 4, rows(5, 7, 9, 10), 9, 4, 0},
		{"gap beyond settled", 4, rows(5, 7, 11), 8, 2, 8},
		{"settled, rows gone", 4, nil, 9, 0, 9},
		{"settled, next row far", 4, rows(12), 9, 0, 9},
		{"settled right before", 4, rows(10), 9, 1, 0},
	} {
		n, pass := deliverable(tt.after, tt.rows, tt.settled)
		if n != tt.wantN || pass != tt.wantPass {
			t.Errorf("%s: deliverable = %d, %d; want %d, %d", tt.name, n, pass, tt.wantN, tt.wantPass)
		}
	}
}
