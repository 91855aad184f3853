package state

import (
	"strings"
)

// InvocationID identifies an invocation. It is opaque: often a UUID, but any
// non-empty valid UTF-8 string of at most MaxIDLen bytes without NUL bytes is
// accepted and compared byte for byte (case-sensitively).
type InvocationID string

// MaxIDLen is the longest identifier or key, in bytes, a backend accepts:
// invocation ids, runner ids, task keys, argument ids, workflow data keys,
// app ids, hostnames and runner classes.
const MaxIDLen = 255

// NoArgs is the ArgsID pynenc gives a call without arguments.
const NoArgs = "no_args"

// TaskID identifies a task by the module that defines it and its function
// name. Its key is Module + "." + FuncName; the module may contain dots, the
// function name may not.
type TaskID struct {
	Module   string
	FuncName string
}

// Key returns pynenc's key for the task: Module + "." + FuncName.
func (t TaskID) Key() string { return t.Module + "." + t.FuncName }

// String returns the task key.
func (t TaskID) String() string { return t.Key() }

// IsZero reports whether t is the zero TaskID (used as "no filter").
func (t TaskID) IsZero() bool { return t.Module == "" && t.FuncName == "" }

// ParseTaskID parses a task key, splitting on the last dot. Both parts must
// be non-empty; the error wraps ErrInvalidArgument.
func ParseTaskID(key string) (TaskID, error) {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return TaskID{}, Invalid("task key "+quote(key), "no '.' between module and function name")
	}
	t := TaskID{Module: key[:i], FuncName: key[i+1:]}
	if t.Validate("") != nil { // the key is quoted only for the error
		return TaskID{}, t.Validate("task key " + quote(key))
	}
	return t, nil
}

// Validate reports whether t can be stored and parsed back unchanged. field
// names t in the error message.
func (t TaskID) Validate(field string) error {
	switch {
	case t.Module == "":
		return Invalid(field+".Module", "empty")
	case t.FuncName == "":
		return Invalid(field+".FuncName", "empty")
	case strings.IndexByte(t.FuncName, '.') >= 0:
		return Invalid(field+".FuncName", "contains '.' (the key splits on the last dot)")
	}
	if len(t.Module)+1+len(t.FuncName) <= MaxIDLen && ValidateText("", t.Module) == nil && ValidateText("", t.FuncName) == nil {
		// The key is valid: its parts are, and the dot between them
		// joins no bytes into a character. Building it would cost an
		// allocation.
		return nil
	}
	return ValidateKey(field, t.Key())
}

// CallID identifies a call: a task and the id of its arguments. Its key is
// the task key + ":" + ArgsID.
type CallID struct {
	Task   TaskID
	ArgsID string
}

// Key returns pynenc's key for the call: Task.Key() + ":" + ArgsID.
func (c CallID) Key() string { return c.Task.Key() + ":" + c.ArgsID }

// String returns the call key.
func (c CallID) String() string { return c.Key() }

// ParseCallID parses a call key, splitting on the last colon, then parses the
// task key. The error wraps ErrInvalidArgument.
func ParseCallID(key string) (CallID, error) {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return CallID{}, Invalid("call key "+quote(key), "no ':' between task key and args id")
	}
	task, err := ParseTaskID(key[:i])
	if err != nil {
		return CallID{}, err
	}
	c := CallID{Task: task, ArgsID: key[i+1:]}
	if c.Validate("") != nil { // the key is quoted only for the error
		return CallID{}, c.Validate("call key " + quote(key))
	}
	return c, nil
}

// Validate reports whether c can be stored and parsed back unchanged.
func (c CallID) Validate(field string) error {
	if c.validate("") == nil {
		return nil
	}
	return c.validate(field)
}

// validate is Validate (see InvocationHistory.validate).
func (c CallID) validate(field string) error {
	if err := c.Task.Validate(field + ".Task"); err != nil {
		return err
	}
	if c.ArgsID == "" {
		return Invalid(field+".ArgsID", "empty")
	}
	if strings.IndexByte(c.ArgsID, ':') >= 0 {
		return Invalid(field+".ArgsID", "contains ':' (the key splits on the last colon)")
	}
	return ValidateKey(field+".ArgsID", c.ArgsID)
}

// Validate reports whether id is a usable invocation id: non-empty, at most
// MaxIDLen bytes, valid UTF-8 without NUL bytes.
func (id InvocationID) Validate(field string) error {
	if id == "" {
		return Invalid(field, "empty")
	}
	return ValidateKey(field, string(id))
}
