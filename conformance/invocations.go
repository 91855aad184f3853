package conformance

// invocationTests returns the tests of group "invocations" (to be written).
func invocationTests() []Test { return nil }
