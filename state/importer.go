package state

import "context"

// HistoryImporter is an optional interface of a Backend that stores many
// history records, each under its own invocation id, in one call: what
// copying a history from another store needs. (AddHistory stores one record
// for many invocations, so a copy through it takes one call per record.)
// Test for it with a type assertion.
type HistoryImporter interface {
	// ImportHistory stores records atomically, each under its InvocationID,
	// in the order given: records with equal timestamps keep that order, as
	// if added one by one. A record with the (invocation, timestamp, status)
	// of a stored one replaces it and keeps its place, so importing the same
	// records again changes nothing. When records repeat a key, the last one
	// wins at the first one's place. An invalid record fails the call with
	// ErrInvalidArgument, naming its index, and nothing is written.
	ImportHistory(ctx context.Context, records []InvocationHistory) error
}
