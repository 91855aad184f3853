//go:build race

package sdktest_test

// allocNoise is how far two means of allocations per call may differ by
// measurement alone: under the race detector sync.Pool drops a quarter of
// what is put back, at random.
const allocNoise = 1.5
