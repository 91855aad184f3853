package repository

import "context"

// Observer is told of every compiled statement a Repo runs, for telemetry.
// It is called before the statement runs, with the context the statement
// would run in; it returns the context to run it in and, unless it is nil,
// a function that the Repo calls once the statement is done, with its row
// count (the rows it changed, or for a query the rows it returned) and its
// error. An Observer must be safe for concurrent use and cheap when it has
// nothing to do: it runs on every statement.
type Observer func(ctx context.Context, s Statement) (context.Context, func(rows int64, err error))

// Statement describes a compiled statement to an Observer.
type Statement struct {
	// Name names the statement among the Repo's ("history.insert",
	// "Result.get"); it never holds data.
	Name string
	// SQL is the statement's text, with placeholders: arguments are never
	// part of it.
	SQL string
	// Query says the statement returns rows; otherwise it changes them.
	Query bool
}
