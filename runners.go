package statebackend

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// StoreRunnerContext implements Backend.
func (b *gormBackend) StoreRunnerContext(ctx context.Context, rc RunnerContext) (err error) {
	ctx, c := b.tel.start(ctx, opStoreRunnerContext)
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
	return b.write(ctx, "StoreRunnerContext", func(db *gorm.DB) error {
		return b.repo.StoreRunnerContexts(db, rows)
	})
}

// RunnerContext implements Backend.
func (b *gormBackend) RunnerContext(ctx context.Context, runnerID string) (_ RunnerContext, err error) {
	ctx, c := b.tel.start(ctx, opRunnerContext)
	defer c.end(&err)
	if err := state.ValidateRequiredKey("runnerID", runnerID); err != nil {
		return RunnerContext{}, err
	}
	out, err := b.runnerContexts(ctx, "RunnerContext", []string{runnerID})
	if err != nil {
		return RunnerContext{}, err
	}
	if len(out) == 0 {
		return RunnerContext{}, state.NotFound("runner context", runnerID)
	}
	return out[0], nil
}

// RunnerContexts implements Backend.
func (b *gormBackend) RunnerContexts(ctx context.Context, runnerIDs []string) (_ []RunnerContext, err error) {
	ctx, c := b.tel.start(ctx, opRunnerContexts)
	defer c.end(&err)
	c.batch(len(runnerIDs))
	for i, id := range runnerIDs {
		if err := state.ValidateRequiredKey(fmt.Sprintf("runnerIDs[%d]", i), id); err != nil {
			return nil, err
		}
	}
	if len(runnerIDs) == 0 {
		return []RunnerContext{}, b.check(ctx)
	}
	out, err := b.runnerContexts(ctx, "RunnerContexts", runnerIDs)
	c.returned(len(out))
	return out, err
}

// runnerContexts reads the valid, non-empty runnerIDs as operation op.
func (b *gormBackend) runnerContexts(ctx context.Context, op string, runnerIDs []string) ([]RunnerContext, error) {
	var rows []entities.RunnerContext
	err := b.read(ctx, op, func(db *gorm.DB) (err error) {
		rows, err = b.repo.RunnerChains(db, runnerIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return assembleRunners(rows, runnerIDs)
}

// MatchRunnerContexts implements Backend.
func (b *gormBackend) MatchRunnerContexts(ctx context.Context, substring string) (_ []RunnerContext, err error) {
	ctx, c := b.tel.start(ctx, opMatchRunnerContexts)
	defer c.end(&err)
	if err := state.ValidateKey("substring", substring); err != nil {
		return nil, err
	}
	var rows []entities.RunnerContext
	err = b.read(ctx, "MatchRunnerContexts", func(db *gorm.DB) (err error) {
		rows, err = b.repo.MatchingRunnerChains(db, substring)
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
	c.returned(len(out))
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
