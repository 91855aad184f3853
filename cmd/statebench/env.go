package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// env is one fresh place to benchmark in: a new temporary SQLite file, or a
// new app id (table prefix) on a server. db is a plain database/sql handle
// on it, used to verify what a workload wrote and to preload data.
type env struct {
	cfg    *config
	appID  string
	path   string // SQLite file; "" on servers
	dir    string // SQLite temporary directory, removed by close
	tables entities.Tables
	sql    *sqlDialect
	db     *sql.DB
	// pollOnly opens Postgres with notifications off (W13's poll mode).
	pollOnly bool
}

// newEnv creates a fresh environment and its schema, by opening the library
// once with the env's app id.
func newEnv(ctx context.Context, cfg *config) (*env, error) {
	e := &env{cfg: cfg, sql: cfg.sql, appID: "statebench"}
	if cfg.dialect == "sqlite" {
		dir, err := os.MkdirTemp("", "statebench-")
		if err != nil {
			return nil, err
		}
		e.dir, e.path = dir, filepath.Join(dir, "state.db")
	} else {
		e.appID = "statebench_" + randomHex(4)
	}
	tables, err := entities.NewTables(e.appID, e.sql.maxIdentifier)
	if err != nil {
		e.close(ctx)
		return nil, err
	}
	e.tables = tables
	b, err := e.openLibrary()
	if err != nil {
		e.close(ctx)
		return nil, fmt.Errorf("create schema: %w", err)
	}
	if err := b.Close(); err != nil {
		e.close(ctx)
		return nil, err
	}
	e.db, err = e.openSQL()
	if err != nil {
		e.close(ctx)
		return nil, err
	}
	return e, nil
}

// openLibrary opens the library on the env (creating the schema if missing).
func (e *env) openLibrary(opts ...statebackend.Option) (statebackend.Backend, error) {
	var d gorm.Dialector = sqlite.Open(e.path)
	switch e.cfg.dialect {
	case "postgres":
		pd := postgres.Open(e.cfg.dsn)
		if e.pollOnly {
			pd = pd.PollOnly()
		}
		d = pd
	case "mysql":
		d = mysql.Open(e.cfg.dsn)
	}
	base := []statebackend.Option{statebackend.WithAppID(e.appID)}
	if n := e.cfg.maxConns; n > 0 {
		base = append(base, statebackend.WithPool(statebackend.Pool{MaxOpenConns: n, MaxIdleConns: n}))
	}
	return statebackend.Open(d, append(base, opts...)...)
}

// openSQL opens a database/sql handle with the same settings the library
// uses for this dialect.
func (e *env) openSQL() (*sql.DB, error) {
	db, err := sql.Open(e.sql.driver, e.sql.dsn(e))
	if err != nil {
		return nil, err
	}
	n := e.sql.maxConns
	if e.cfg.maxConns > 0 {
		n = e.cfg.maxConns
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// table returns the name of the table of the entities model ("History").
func (e *env) table(model string) string { return e.tables.Name(model) }

// count returns the number of rows of a table.
func (e *env) count(ctx context.Context, model string) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+e.table(model)).Scan(&n)
	return n, err
}

// analyze refreshes the planner statistics of the model's table on
// servers, as autovacuum (Postgres) or InnoDB's automatic recalculation
// (MariaDB) does within a minute of a bulk change in production. Without
// it, plans for the read workloads right after loading depend on a table
// the planner has never seen: on Postgres both W8 queries, the library's
// and the raw one, then read and sort the whole range for every page.
// SQLite gathers no statistics unless asked (the library never asks), so
// it is left alone.
func (e *env) analyze(ctx context.Context, model string) error {
	return e.analyzeTable(ctx, e.table(model))
}

// analyzeTable is analyze for a table by its name.
func (e *env) analyzeTable(ctx context.Context, name string) error {
	if e.sql.analyze == "" {
		return nil
	}
	rows, err := e.db.QueryContext(ctx, fmt.Sprintf(e.sql.analyze, name))
	if err != nil {
		return fmt.Errorf("analyze %s: %w", name, err)
	}
	return rows.Close()
}

// close removes everything the env created: the SQLite directory, or the
// app's tables on a server.
func (e *env) close(ctx context.Context) {
	if e.cfg.keep {
		if e.db != nil {
			_ = e.db.Close()
		}
		logf("kept app %q (tables %s*) at %s", e.appID, e.tables.Prefix(), cmp.Or(e.path, "the server"))
		return
	}
	if e.db != nil && e.path == "" {
		for _, t := range e.tables.Names() {
			if _, err := e.db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+t); err != nil {
				logf("drop %s: %v", t, err)
			}
		}
		if e.sql.name == "postgres" {
			// The functions of the current-status triggers outlive their
			// tables.
			for _, f := range []string{e.tables.Name("History") + "_status_ins", e.tables.Name("History") + "_status_upd",
				e.tables.Name("Invocation") + "_status_ins", e.tables.Name("Invocation") + "_status_upd"} {
				if _, err := e.db.ExecContext(context.WithoutCancel(ctx), `DROP FUNCTION IF EXISTS "`+f+`"()`); err != nil {
					logf("drop function %s: %v", f, err)
				}
			}
		}
	}
	if e.db != nil {
		_ = e.db.Close()
	}
	if e.dir != "" {
		if err := os.RemoveAll(e.dir); err != nil {
			logf("remove %s: %v", e.dir, err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serverVersion returns the database's version, for the log.
func (e *env) serverVersion(ctx context.Context) string {
	q := "SELECT version()"
	if e.cfg.dialect == "sqlite" {
		q = "SELECT 'SQLite ' || sqlite_version()"
	}
	var v string
	if err := e.db.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "version unknown: " + err.Error()
	}
	return v
}
