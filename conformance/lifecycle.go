package conformance

// lifecycleTests returns the tests of group "lifecycle" (to be written).
func lifecycleTests() []Test { return nil }
