package main

import (
	"cmp"
	"maps"
	"slices"
)

// median returns the median of v (the mean of the middle two for an even
// count); v must not be empty. It sorts a copy.
func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianOf returns the median of f over samples.
func medianOf(samples []sample, f func(sample) float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = f(s)
	}
	return median(v)
}

// groupBy groups samples by key, returning the keys sorted by cmpKey and
// the groups.
func groupBy[K comparable](samples []sample, key func(sample) (K, bool), cmpKey func(a, b K) int) ([]K, map[K][]sample) {
	groups := map[K][]sample{}
	for _, s := range samples {
		if k, ok := key(s); ok {
			groups[k] = append(groups[k], s)
		}
	}
	keys := slices.SortedFunc(maps.Keys(groups), cmpKey)
	return keys, groups
}

// implOrder sorts impls gorm, raw, then the others by name.
func implOrder(a, b string) int {
	rank := func(s string) int {
		switch s {
		case "gorm":
			return 0
		case "raw":
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
}

// workloadOrder sorts workload names by their number (W2 before W10), then
// by the rest of the name (W11/W3 before W11/W4).
func workloadOrder(a, b string) int {
	na, ra := workloadNumber(a)
	nb, rb := workloadNumber(b)
	return cmp.Or(cmp.Compare(na, nb), cmp.Compare(ra, rb))
}

// workloadNumber splits "W11/W3" into 11 and "/W3"; a name not of the form
// W<number> sorts last, by name.
func workloadNumber(w string) (int, string) {
	if len(w) < 2 || w[0] != 'W' {
		return 1 << 30, w
	}
	n, i := 0, 1
	for ; i < len(w) && w[i] >= '0' && w[i] <= '9'; i++ {
		n = 10*n + int(w[i]-'0')
	}
	if i == 1 {
		return 1 << 30, w
	}
	return n, w[i:]
}
