package conformance

// runnerTests returns the tests of group "runners" (to be written).
func runnerTests() []Test { return nil }
