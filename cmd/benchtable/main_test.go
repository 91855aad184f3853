package main

import "testing"

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       line
		workload string
		n        int
		ok       bool
	}{
		{line{Workload: "W2", N: 20000, Ops: 80000}, "W2", 20000, true},
		{line{Workload: "W2_history", Ops: 80000}, "W2", 20000, true},
		{line{Workload: "W5_results", Ops: 40000}, "W5", 20000, true},
		{line{Workload: "W11/W6", N: 500000, Ops: 2000000}, "W11/W6", 500000, true},
		{line{Workload: "W6_history_range", Ops: 7}, "W6", 0, false},
		{line{Workload: "W42_unknown", Ops: 10}, "W42", 0, false},
	} {
		l := tc.in
		if ok := normalize(&l); ok != tc.ok || l.Workload != tc.workload || (ok && l.N != tc.n) {
			t.Errorf("normalize(%+v) = %v, %+v", tc.in, ok, l)
		}
	}
}
