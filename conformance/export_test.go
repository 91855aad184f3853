package conformance

// BrowseMatch is the brute force's filter, for the broken browsers of the
// self-test (package conformance_test) to filter as a correct backend does.
var BrowseMatch = browseMatch
