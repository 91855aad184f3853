package conformance

// purgeTests returns the tests of group "purge" (to be written).
func purgeTests() []Test { return nil }
