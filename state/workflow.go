package state

// WorkflowIdentity identifies a workflow run: its id (the invocation that
// started it), its type (that invocation's task) and, for a sub-workflow, the
// workflow that started it.
type WorkflowIdentity struct {
	WorkflowID   InvocationID
	WorkflowType TaskID
	// ParentWorkflowID is empty for a top-level workflow.
	ParentWorkflowID InvocationID
}

// IsSubworkflow reports whether w was started inside another workflow.
func (w WorkflowIdentity) IsSubworkflow() bool { return w.ParentWorkflowID != "" }

// Validate reports whether w can be stored.
func (w WorkflowIdentity) Validate(field string) error {
	if w.validate("") == nil {
		return nil
	}
	return w.validate(field)
}

// validate is Validate (see InvocationHistory.validate).
func (w WorkflowIdentity) validate(field string) error {
	if err := w.WorkflowID.Validate(field + ".WorkflowID"); err != nil {
		return err
	}
	if err := w.WorkflowType.Validate(field + ".WorkflowType"); err != nil {
		return err
	}
	return ValidateKey(field+".ParentWorkflowID", string(w.ParentWorkflowID))
}

// WorkflowFilter selects invocations by workflow. Zero fields do not filter;
// when both are set both must match; the zero filter selects every
// invocation.
type WorkflowFilter struct {
	WorkflowID   InvocationID
	WorkflowType TaskID
}

// Validate reports whether f can be used as a filter.
func (f WorkflowFilter) Validate(field string) error {
	if err := ValidateKey(field+".WorkflowID", string(f.WorkflowID)); err != nil {
		return err
	}
	if f.WorkflowType.IsZero() {
		return nil
	}
	return f.WorkflowType.Validate(field + ".WorkflowType")
}
