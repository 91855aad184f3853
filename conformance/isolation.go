package conformance

// isolationTests returns the tests of group "isolation" (to be written).
func isolationTests() []Test { return nil }
