package repository

import (
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// StoreRunnerContexts stores rows atomically (a context and its ancestors),
// replacing earlier versions, in ascending runner id order.
func (r Repo) StoreRunnerContexts(db *gorm.DB, rows []entities.RunnerContext) error {
	rows = dedupeLast(rows, func(e *entities.RunnerContext) entities.Key { return e.RunnerID })
	return db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "runner_id"}}, UpdateAll: true,
	}).Create(&rows).Error
}

// runnerColumns lists the columns of entities.RunnerContext for the chain
// query.
const runnerColumns = "runner_id, runner_cls, parent_ctx_id, pid, hostname, thread_id"

// RunnerChains returns the rows of ids and of all their ancestors, in one
// query (a recursive common table expression, which SQLite, Postgres and
// MySQL 8 / MariaDB 10.2 all run). UNION (not UNION ALL) stops on cycles.
func (r Repo) RunnerChains(db *gorm.DB, ids []string) ([]entities.RunnerContext, error) {
	ids = uniqueSorted(ids)
	var out []entities.RunnerContext
	for _, p := range chunks(len(ids), rowsPerStatement(1)) {
		rows, err := r.chains(db, "runner_id IN ?", ids[p[0]:p[1]])
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// MatchingRunnerChains returns the rows whose runner id contains substring
// (as SQL LIKE sees it: callers filter exactly afterwards, since LIKE is
// case-insensitive on SQLite) and all their ancestors.
func (r Repo) MatchingRunnerChains(db *gorm.DB, substring string) ([]entities.RunnerContext, error) {
	return r.chains(db, "runner_id LIKE ? ESCAPE '!'", "%"+escapeLike(substring)+"%")
}

func (r Repo) chains(db *gorm.DB, anchor string, arg any) ([]entities.RunnerContext, error) {
	table := clause.Table{Name: r.Tables.Name("RunnerContext")}
	sql := "WITH RECURSIVE chain(" + runnerColumns + ") AS (" +
		"SELECT " + runnerColumns + " FROM ? WHERE " + anchor +
		" UNION SELECT p.runner_id, p.runner_cls, p.parent_ctx_id, p.pid, p.hostname, p.thread_id" +
		" FROM ? p JOIN chain c ON p.runner_id = c.parent_ctx_id" +
		") SELECT " + runnerColumns + " FROM chain"
	var rows []entities.RunnerContext
	err := db.Raw(sql, table, arg, table).Scan(&rows).Error
	return rows, err
}

// escapeLike escapes s for a LIKE pattern with '!' as the escape character,
// so '%', '_' and '!' match themselves. ('!' rather than '\', whose meaning
// in string literals differs between databases.)
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
