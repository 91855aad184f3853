package conformance

// payloadTests returns the tests of group "payloads" (to be written).
func payloadTests() []Test { return nil }
