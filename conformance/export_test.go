package conformance

import "time"

// BrowseMatch is the brute force's filter, for the broken browsers of the
// self-test (package conformance_test) to filter as a correct backend does.
var BrowseMatch = browseMatch

// The self-test's backends keep everything in memory: a watch that has not
// ended after a few seconds never will, and the broken one that never ends
// is caught sooner. The same holds for a following watch waiting for a change.
func init() { watchEndTimeout, followTimeout = 5*time.Second, 10*time.Second }
