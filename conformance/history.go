package conformance

// historyTests returns the tests of group "history" (to be written).
func historyTests() []Test { return nil }
