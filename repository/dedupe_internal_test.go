package repository

import (
	"slices"
	"testing"

	"github.com/taskstate/statebackend/entities"
)

func TestDedupeLast(t *testing.T) {
	type row struct {
		key entities.Key
		v   int
	}
	key := func(r *row) entities.Key { return r.key }
	for _, tc := range []struct {
		name     string
		in, want []row
	}{
		{"empty", nil, []row{}},
		{"one", []row{{"a", 1}}, []row{{"a", 1}}},
		{"sorted", []row{{"c", 1}, {"a", 2}, {"b", 3}}, []row{{"a", 2}, {"b", 3}, {"c", 1}}},
		{"last wins", []row{{"b", 1}, {"a", 2}, {"b", 3}, {"a", 4}, {"b", 5}}, []row{{"a", 4}, {"b", 5}}},
		{"all the same", []row{{"x", 1}, {"x", 2}, {"x", 3}}, []row{{"x", 3}}},
	} {
		in := slices.Clone(tc.in)
		got := dedupeLast(in, key)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("%s: the input changed to %v", tc.name, in)
		}
	}
}
