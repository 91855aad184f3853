package conformance

// groups lists the suite's tests, one slice per group; each group's tests
// live in the file named after it.
func groups() [][]Test {
	return [][]Test{
		invocationTests(),
		historyTests(),
		timeRangeTests(),
		payloadTests(),
		workflowTests(),
		runnerTests(),
		appInfoTests(),
		purgeTests(),
		isolationTests(),
		validationTests(),
		lifecycleTests(),
		concurrencyTests(),
		dialectEdgeTests(),
		retentionTests(),
		browseTests(),
		watchTests(),
	}
}
