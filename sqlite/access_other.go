//go:build !unix

package sqlite

// Outside Unix the checks below know nothing: explainOpen then leaves
// SQLite's error as it is, and a read-only open uses SQLite's mode=ro
// unless Immutable or ImmutableWhenClosed says otherwise.

func writable(string) error       { return nil }
func mayWrite(string) error       { return nil }
func onReadOnlyMount(string) bool { return false }
