package conformance

// validationTests returns the tests of group "validation" (to be written).
func validationTests() []Test { return nil }
