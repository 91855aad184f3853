package main

import (
	"errors"
	"fmt"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

// oneLine formats err as the single stderr line the CLI prints: prefixed
// once with "statebackend: ", newlines folded, secrets removed.
func oneLine(err error, secrets []string) string {
	msg := err.Error()
	for strings.HasPrefix(msg, "statebackend: ") {
		msg = strings.TrimPrefix(msg, "statebackend: ")
	}
	// The library prefixes its errors too; inner prefixes add nothing here.
	msg = strings.ReplaceAll(msg, ": statebackend: ", ": ")
	msg = strings.Join(strings.Fields(msg), " ")
	return "statebackend: " + redact(msg, secrets...)
}
