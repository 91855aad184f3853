package state

import (
	"encoding/json"
	"strconv"
)

// MaxRunnerDepth bounds the parent chain of a runner context a backend
// stores and returns (the context itself included).
const MaxRunnerDepth = 32

// RunnerContext describes a runner (a process, worker or thread that runs
// invocations) and the runner that started it.
type RunnerContext struct {
	RunnerCls string
	RunnerID  string
	// Parent is the runner that started this one; nil for a root runner.
	Parent   *RunnerContext
	PID      int
	Hostname string
	ThreadID int64
}

// Validate reports whether rc and its parent chain can be stored.
func (rc RunnerContext) Validate(field string) error {
	depth := 0
	for c := &rc; c != nil; c = c.Parent {
		depth++
		if depth > MaxRunnerDepth {
			return Invalid(field, "parent chain deeper than "+strconv.Itoa(MaxRunnerDepth))
		}
		if err := ValidateRequiredKey(field+".RunnerID", c.RunnerID); err != nil {
			return err
		}
		if err := ValidateRequiredKey(field+".RunnerCls", c.RunnerCls); err != nil {
			return err
		}
		if err := ValidateKey(field+".Hostname", c.Hostname); err != nil {
			return err
		}
		field += ".Parent"
	}
	return nil
}

// Chain returns rc followed by its ancestors, nearest first, each with its
// Parent pointer intact.
func (rc *RunnerContext) Chain() []*RunnerContext {
	var out []*RunnerContext
	for c := rc; c != nil && len(out) <= MaxRunnerDepth; c = c.Parent {
		out = append(out, c)
	}
	return out
}

// Equal reports whether rc and o describe the same runners, parents included.
func (rc *RunnerContext) Equal(o *RunnerContext) bool {
	for a, b := rc, o; ; a, b = a.Parent, b.Parent {
		if a == nil || b == nil {
			return a == b
		}
		if a.RunnerCls != b.RunnerCls || a.RunnerID != b.RunnerID || a.PID != b.PID ||
			a.Hostname != b.Hostname || a.ThreadID != b.ThreadID {
			return false
		}
	}
}

// runnerJSON is pynenc's RunnerContext.to_json form (keys sorted).
type runnerJSON struct {
	Hostname  string          `json:"hostname"`
	ParentCtx json.RawMessage `json:"parent_ctx"`
	PID       int             `json:"pid"`
	RunnerCls string          `json:"runner_cls"`
	RunnerID  string          `json:"runner_id"`
	ThreadID  int64           `json:"thread_id"`
}

// MarshalJSON encodes rc as pynenc does, the parent nested under
// "parent_ctx" (null for a root runner).
func (rc RunnerContext) MarshalJSON() ([]byte, error) {
	parent := json.RawMessage("null")
	if rc.Parent != nil {
		p, err := rc.Parent.MarshalJSON()
		if err != nil {
			return nil, err
		}
		parent = p
	}
	return json.Marshal(runnerJSON{
		Hostname: rc.Hostname, ParentCtx: parent, PID: rc.PID,
		RunnerCls: rc.RunnerCls, RunnerID: rc.RunnerID, ThreadID: rc.ThreadID,
	})
}

// UnmarshalJSON decodes pynenc's form.
func (rc *RunnerContext) UnmarshalJSON(data []byte) error {
	var raw runnerJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return Invalid("runner context JSON", err.Error())
	}
	out := RunnerContext{
		RunnerCls: raw.RunnerCls, RunnerID: raw.RunnerID, PID: raw.PID,
		Hostname: raw.Hostname, ThreadID: raw.ThreadID,
	}
	if len(raw.ParentCtx) > 0 && string(raw.ParentCtx) != "null" {
		out.Parent = new(RunnerContext)
		if err := out.Parent.UnmarshalJSON(raw.ParentCtx); err != nil {
			return err
		}
	}
	*rc = out
	return nil
}
