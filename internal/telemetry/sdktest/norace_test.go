//go:build !race

package sdktest_test

// allocNoise is how far two means of allocations per call may differ by
// measurement alone (a garbage collection empties the pools a call takes
// from); one allocation more per call is not noise.
const allocNoise = 0.5
