package conformance

// concurrencyTests returns the tests of group "concurrency" (to be written).
func concurrencyTests() []Test { return nil }
