package conformance

// timeRangeTests returns the tests of group "timerange" (to be written).
func timeRangeTests() []Test { return nil }
