package statebackend

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/op"
	"github.com/taskstate/statebackend/state"
)

// StoreRunnerContext implements Backend.
func (s *Store) StoreRunnerContext(ctx context.Context, rc RunnerContext) (err error) {
	c := s.begin(ctx, op.StoreRunnerContext)
	defer c.end(&err)
	if err := rc.Validate("runner context"); err != nil {
		return err
	}
	var rows []entities.RunnerContext
	for _, c := range rc.Chain() {
		parent := ""
		if c.Parent != nil {
			parent = c.Parent.RunnerID
		}
		rows = append(rows, entities.RunnerContext{
			RunnerID: entities.Key(c.RunnerID), RunnerCls: entities.Key(c.RunnerCls),
			ParentCtxID: entities.Key(parent), PID: int64(c.PID),
			Hostname: entities.Key(c.Hostname), ThreadID: c.ThreadID,
		})
	}
	return c.write(func(db *gorm.DB) error {
		return s.repo.StoreRunnerContexts(db, rows)
	})
}

// RunnerContext implements Backend.
func (s *Store) RunnerContext(ctx context.Context, runnerID string) (_ RunnerContext, err error) {
	c := s.begin(ctx, op.RunnerContext)
	defer c.end(&err)
	if err := state.ValidateRequiredKey("runnerID", runnerID); err != nil {
		return RunnerContext{}, err
	}
	out, err := s.runnerContexts(c, []string{runnerID})
	if err != nil {
		return RunnerContext{}, err
	}
	if len(out) == 0 {
		return RunnerContext{}, state.NotFound("runner context", runnerID)
	}
	return out[0], nil
}

// RunnerContexts implements Backend.
func (s *Store) RunnerContexts(ctx context.Context, runnerIDs []string) (_ []RunnerContext, err error) {
	c := s.begin(ctx, op.RunnerContexts)
	defer c.end(&err)
	c.tel.Batch(len(runnerIDs))
	for i, id := range runnerIDs {
		if err := state.ValidateRequiredKey(fmt.Sprintf("runnerIDs[%d]", i), id); err != nil {
			return nil, err
		}
	}
	if len(runnerIDs) == 0 {
		return []RunnerContext{}, c.check()
	}
	out, err := s.runnerContexts(c, runnerIDs)
	c.tel.Returned(len(out))
	return out, err
}

// runnerContexts reads the valid, non-empty runnerIDs for the call c.
func (s *Store) runnerContexts(c call, runnerIDs []string) ([]RunnerContext, error) {
	var rows []entities.RunnerContext
	err := c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.RunnerChains(db, runnerIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return assembleRunners(rows, runnerIDs)
}

// MatchRunnerContexts implements Backend.
func (s *Store) MatchRunnerContexts(ctx context.Context, substring string) (_ []RunnerContext, err error) {
	c := s.begin(ctx, op.MatchRunnerContexts)
	defer c.end(&err)
	if err := state.ValidateKey("substring", substring); err != nil {
		return nil, err
	}
	var rows []entities.RunnerContext
	err = c.read(func(db *gorm.DB) (err error) {
		rows, err = s.repo.MatchingRunnerChains(db, substring)
		return err
	})
	if err != nil {
		return nil, err
	}
	// LIKE found a superset (it ignores ASCII case on SQLite); keep exact
	// substring matches only.
	var ids []string
	for _, row := range rows {
		if strings.Contains(string(row.RunnerID), substring) {
			ids = append(ids, string(row.RunnerID))
		}
	}
	sort.Strings(ids)
	out, err := assembleRunners(rows, ids)
	c.tel.Returned(len(out))
	return out, err
}

// assembleRunners builds the contexts of ids (in that order, each once,
// unknown ids skipped) from rows holding them and their ancestors.
func assembleRunners(rows []entities.RunnerContext, ids []string) ([]RunnerContext, error) {
	byID := make(map[string]entities.RunnerContext, len(rows))
	for _, row := range rows {
		byID[string(row.RunnerID)] = row
	}
	var build func(id string, depth int) (*RunnerContext, error)
	build = func(id string, depth int) (*RunnerContext, error) {
		row, ok := byID[id]
		if !ok {
			return nil, state.NotFound("runner context", id)
		}
		if depth >= state.MaxRunnerDepth {
			return nil, fmt.Errorf("statebackend: runner context %q: parent chain deeper than %d (a cycle?)", id, state.MaxRunnerDepth)
		}
		rc := &RunnerContext{
			RunnerCls: string(row.RunnerCls), RunnerID: id, PID: int(row.PID),
			Hostname: string(row.Hostname), ThreadID: row.ThreadID,
		}
		if row.ParentCtxID != "" {
			parent, err := build(string(row.ParentCtxID), depth+1)
			if err != nil {
				return nil, fmt.Errorf("statebackend: parent of runner context %q: %w", id, err)
			}
			rc.Parent = parent
		}
		return rc, nil
	}
	out := make([]RunnerContext, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, ok := byID[id]; !ok {
			continue
		}
		rc, err := build(id, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, *rc)
	}
	return out, nil
}
