// Package state is the contract of a pynenc state backend: the domain types,
// the Backend interface every implementation satisfies, the sentinel errors and
// the input validation every implementation applies.
//
// It imports nothing but the standard library, so a third-party backend (and
// the conformance suite) can depend on it without pulling in GORM or a database
// driver. The root package statebackend re-exports every name declared here and
// adds Open, the GORM implementation; most users import only the root package.
package state
