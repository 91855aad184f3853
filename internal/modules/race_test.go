//go:build race

package modules_test

// raceEnabled says this test runs under the race detector, which the
// modules' tests then run under too.
const raceEnabled = true
