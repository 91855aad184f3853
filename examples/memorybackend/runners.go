package memorybackend

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/taskstate/statebackend/state"
)

// runnerRow is a stored runner context. Like a SQL row it names its parent
// by id rather than holding it: storing a context stores each ancestor as a
// row of its own, and reading resolves the chain from the current rows, so a
// parent stored again later is seen by all its children.
type runnerRow struct {
	cls      string
	parentID string // "" for a root runner
	pid      int
	hostname string
	threadID int64
}

// StoreRunnerContext implements state.Backend.
func (b *Backend) StoreRunnerContext(ctx context.Context, rc state.RunnerContext) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if err := rc.Validate("runner context"); err != nil {
		return err
	}
	b.write(func(a *app) {
		for _, c := range rc.Chain() {
			row := runnerRow{cls: c.RunnerCls, pid: c.PID, hostname: c.Hostname, threadID: c.ThreadID}
			if c.Parent != nil {
				row.parentID = c.Parent.RunnerID
			}
			a.runners[c.RunnerID] = row
		}
	})
	return nil
}

// RunnerContext implements state.Backend.
func (b *Backend) RunnerContext(ctx context.Context, runnerID string) (state.RunnerContext, error) {
	if err := b.check(ctx); err != nil {
		return state.RunnerContext{}, err
	}
	if err := state.ValidateRequiredKey("runnerID", runnerID); err != nil {
		return state.RunnerContext{}, err
	}
	var out []state.RunnerContext
	var err error
	b.read(func(a *app) { out, err = a.runnerContexts([]string{runnerID}) })
	if err != nil {
		return state.RunnerContext{}, err
	}
	if len(out) == 0 {
		return state.RunnerContext{}, state.NotFound("runner context", runnerID)
	}
	return out[0], nil
}

// RunnerContexts implements state.Backend.
func (b *Backend) RunnerContexts(ctx context.Context, runnerIDs []string) ([]state.RunnerContext, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	for i, id := range runnerIDs {
		if err := state.ValidateRequiredKey("runnerIDs["+strconv.Itoa(i)+"]", id); err != nil {
			return nil, err
		}
	}
	var out []state.RunnerContext
	var err error
	b.read(func(a *app) { out, err = a.runnerContexts(runnerIDs) })
	return out, err
}

// MatchRunnerContexts implements state.Backend. The match is
// strings.Contains: literal and case-sensitive, with no wildcard characters,
// which a SQL backend has to work for (LIKE treats '%' and '_' as wildcards
// and ignores case on some databases).
func (b *Backend) MatchRunnerContexts(ctx context.Context, substring string) ([]state.RunnerContext, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := state.ValidateKey("substring", substring); err != nil {
		return nil, err
	}
	var out []state.RunnerContext
	var err error
	b.read(func(a *app) {
		var ids []string
		for id := range a.runners {
			if strings.Contains(id, substring) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		out, err = a.runnerContexts(ids)
	})
	return out, err
}

// runnerContexts returns the contexts of ids with their parent chains, in
// the order of ids, each once, unknown ids skipped. Callers hold the lock.
func (a *app) runnerContexts(ids []string) ([]state.RunnerContext, error) {
	out := []state.RunnerContext{}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if _, ok := a.runners[id]; !ok || seen[id] {
			continue
		}
		seen[id] = true
		rc, err := a.resolveRunner(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *rc)
	}
	return out, nil
}

// resolveRunner builds the context of id, following parent ids. A chain
// longer than state.MaxRunnerDepth can only come from a cycle (a parent
// stored again later with its own descendant as parent); it is reported
// rather than followed forever.
func (a *app) resolveRunner(id string) (*state.RunnerContext, error) {
	var head *state.RunnerContext
	link := &head
	for depth := 0; id != ""; depth++ {
		if depth == state.MaxRunnerDepth {
			return nil, fmt.Errorf("memorybackend: runner context %q: parent chain deeper than %d (a cycle?)", id, state.MaxRunnerDepth)
		}
		row, ok := a.runners[id]
		if !ok {
			return nil, fmt.Errorf("memorybackend: parent of runner context: %w", state.NotFound("runner context", id))
		}
		*link = &state.RunnerContext{
			RunnerCls: row.cls, RunnerID: id, PID: row.pid,
			Hostname: row.hostname, ThreadID: row.threadID,
		}
		link = &(*link).Parent
		id = row.parentID
	}
	return head, nil
}
