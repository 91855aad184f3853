package repository

import (
	"database/sql"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/taskstate/statebackend/entities"
)

// runnerColumns lists the columns of entities.RunnerContext in scan order;
// runner_id is the key.
var runnerColumns = []string{"runner_id", "runner_cls", "parent_ctx_id", "pid", "hostname", "thread_id"}

// StoreRunnerContexts stores rows atomically (a context and its ancestors),
// replacing earlier versions, in ascending runner id order.
func (r Repo) StoreRunnerContexts(db *gorm.DB, rows []entities.RunnerContext) error {
	rows = dedupeLast(rows, func(e *entities.RunnerContext) entities.Key { return e.RunnerID })
	cols := len(runnerColumns)
	parts := fixedChunks(len(rows), rowsPerStatement(cols))
	return inTx(db, len(parts), func(tx *gorm.DB) error {
		for _, p := range parts {
			batch := rows[p[0]:p[1]]
			stmt, err := r.statement(tx, stmtKey{"runner_contexts.store", len(batch)}, func(tx *gorm.DB) *gorm.DB {
				values := make([]map[string]any, len(batch))
				for i := range values {
					m := markers(cols*i, cols)
					values[i] = make(map[string]any, cols)
					for j, c := range runnerColumns {
						values[i][c] = m[j]
					}
				}
				return tx.Table(r.Tables.Name("RunnerContext")).Clauses(clause.OnConflict{
					Columns:   []clause.Column{{Name: "runner_id"}},
					DoUpdates: clause.AssignmentColumns(runnerColumns[1:]),
				}).Create(values)
			})
			if err != nil {
				return err
			}
			args := make([]any, 0, cols*len(batch))
			for _, e := range batch {
				args = append(args, string(e.RunnerID), string(e.RunnerCls), string(e.ParentCtxID),
					e.PID, string(e.Hostname), e.ThreadID)
			}
			if _, err := stmt.exec(tx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunnerChains returns the rows of ids and of all their ancestors, in one
// query per chunk of ids: a recursive common table expression, which
// SQLite, Postgres and MySQL 8 / MariaDB 10.2 all run. UNION (not UNION ALL)
// stops on cycles.
func (r Repo) RunnerChains(db *gorm.DB, ids []string) ([]entities.RunnerContext, error) {
	var out []entities.RunnerContext
	for _, chunk := range paddedChunks(uniqueSorted(ids)) {
		stmt, err := r.statement(db, stmtKey{"runner_contexts.chains", len(chunk)}, func(tx *gorm.DB) *gorm.DB {
			return r.chains(tx, "runner_id IN ?", markers(0, len(chunk)))
		})
		if err != nil {
			return nil, err
		}
		if err := stmt.each(db, scanRunners(&out), anys(chunk)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MatchingRunnerChains returns the rows whose runner id contains substring
// (as SQL LIKE sees it: callers filter exactly afterwards, since LIKE is
// case-insensitive on SQLite) and all their ancestors.
func (r Repo) MatchingRunnerChains(db *gorm.DB, substring string) ([]entities.RunnerContext, error) {
	stmt, err := r.statement(db, stmtKey{name: "runner_contexts.match"}, func(tx *gorm.DB) *gorm.DB {
		return r.chains(tx, "runner_id LIKE ? ESCAPE '!'", arg(0))
	})
	if err != nil {
		return nil, err
	}
	var out []entities.RunnerContext
	err = stmt.each(db, scanRunners(&out), "%"+escapeLike(substring)+"%")
	return out, err
}

// chains builds the query of the rows matching anchor and their ancestors.
func (r Repo) chains(tx *gorm.DB, anchor string, vars any) *gorm.DB {
	table := clause.Table{Name: r.Tables.Name("RunnerContext")}
	cols := strings.Join(runnerColumns, ", ")
	return tx.Raw("WITH RECURSIVE chain("+cols+") AS ("+
		"SELECT "+cols+" FROM ? WHERE "+anchor+
		" UNION SELECT p.runner_id, p.runner_cls, p.parent_ctx_id, p.pid, p.hostname, p.thread_id"+
		" FROM ? p JOIN chain c ON p.runner_id = c.parent_ctx_id"+
		") SELECT "+cols+" FROM chain", table, vars, table)
}

// scanRunners appends the rows selected with runnerColumns to out.
func scanRunners(out *[]entities.RunnerContext) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var e entities.RunnerContext
		err := rows.Scan((*string)(&e.RunnerID), (*string)(&e.RunnerCls), (*string)(&e.ParentCtxID),
			&e.PID, (*string)(&e.Hostname), &e.ThreadID)
		*out = append(*out, e)
		return err
	}
}

// escapeLike escapes s for a LIKE pattern with '!' as the escape character,
// so '%', '_' and '!' match themselves. ('!' rather than '\', whose meaning
// in string literals differs between databases.)
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
