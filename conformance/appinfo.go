package conformance

// appInfoTests returns the tests of group "appinfo" (to be written).
func appInfoTests() []Test { return nil }
