package conformance

// workflowTests returns the tests of group "workflows" (to be written).
func workflowTests() []Test { return nil }
