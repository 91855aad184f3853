//go:build !unix

package sqlite

// writable is unknown outside Unix: explainOpen then leaves SQLite's error
// as it is.
func writable(string) error { return nil }
