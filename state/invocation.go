package state

import (
	"strconv"
)

// Invocation is one invocation of a task: pynenc's InvocationDTO and CallDTO
// in one value.
type Invocation struct {
	ID     InvocationID
	CallID CallID
	// Arguments maps each argument name to its serialized value. An
	// invocation stored with no arguments reads back with an empty, non-nil
	// map.
	Arguments map[string]string
	// Workflow is the workflow the invocation runs in. A top-level invocation
	// starts its own: WorkflowID == ID, WorkflowType == CallID.Task.
	Workflow WorkflowIdentity
	// ParentInvocationID is the invocation that created this one; empty means
	// none.
	ParentInvocationID InvocationID
}

// Validate reports whether inv can be stored. field names inv in the message.
func (inv Invocation) Validate(field string) error {
	if inv.validate("") == nil {
		return nil
	}
	return inv.validate(field)
}

// validate is Validate (see InvocationHistory.validate).
func (inv Invocation) validate(field string) error {
	if err := inv.ID.Validate(field + ".ID"); err != nil {
		return err
	}
	if err := inv.CallID.Validate(field + ".CallID"); err != nil {
		return err
	}
	for name, value := range inv.Arguments {
		if err := ValidateText(field+".Arguments key", name); err != nil {
			return err
		}
		if ValidateText("", value) == nil {
			continue // the quoted name is built only for an error
		}
		return ValidateText(field+".Arguments["+strconv.Quote(name)+"]", value)
	}
	if err := inv.Workflow.Validate(field + ".Workflow"); err != nil {
		return err
	}
	return ValidateKey(field+".ParentInvocationID", string(inv.ParentInvocationID))
}
