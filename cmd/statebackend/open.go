package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"syscall"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/sqlite"
)

// conn is one app of one database, opened two ways: the library's Backend,
// through which every operation on the state goes, and a GORM handle for
// what the Backend does not offer (listing tables, counting rows, reading
// a table in key order, sizes).
type conn struct {
	url     dbURL
	appID   string
	backend *statebackend.Store
	db      *gorm.DB
	tables  entities.Tables
}

// openMode says whether opening may create the app's tables.
type openMode int

const (
	// readExisting opens an app whose tables exist for reading only: a
	// SQLite file read-only (see dialectorFor), so nothing is written,
	// not the schema, not the journal mode, not a new file.
	readExisting openMode = iota
	// createMissing creates the database file and the app's tables when
	// missing (the target of copy and import-pynenc).
	createMissing
	// writeExisting writes to an app whose tables exist at the library's
	// schema version; it migrates nothing (prune, purge).
	writeExisting
	// readFollowing opens an app whose tables exist for reading only, as
	// readExisting, but sees what other processes commit while it is open
	// (watch --follow): a SQLite file is opened with mode=ro, never
	// immutable while some process may write it (see dialectorFor).
	readFollowing
)

// readOnly reports whether mode opens the database for reading only.
func (m openMode) readOnly() bool { return m == readExisting || m == readFollowing }

// open opens appID on the database u.
func (c *cli) open(ctx context.Context, u dbURL, appID string, mode openMode) (*conn, error) {
	if mode != createMissing && !u.exists() {
		return nil, fmt.Errorf("no SQLite database at %s: check the path (this command never creates one)", u.path)
	}
	c.log.Debug("opening database", "url", u.shown, "app", appID)
	db, err := openGorm(u, mode)
	if err != nil {
		if mode == readFollowing && u.kind == "sqlite" && errors.Is(err, fs.ErrPermission) {
			return nil, followError(u, err)
		}
		return nil, err
	}
	tables, err := entities.NewTables(appID, u.maxIdentifier())
	if err != nil {
		closeGorm(db)
		return nil, usageErrorf("--app %q: %v", appID, err)
	}
	opts := []statebackend.Option{statebackend.WithAppID(appID), statebackend.WithLogger(c.log)}
	if mode != createMissing {
		if err := checkApp(ctx, db, u, appID, tables); err != nil {
			closeGorm(db)
			return nil, err
		}
	}
	switch mode {
	case readExisting, readFollowing:
		// Reading needs no schema change, and an older schema reads fine.
		opts = append(opts, statebackend.WithReadOnly())
	case writeExisting:
		// An older schema fails, naming `statebackend migrate`.
		opts = append(opts, statebackend.WithoutAutoMigrate())
	}
	b, err := statebackend.Open(dialectorFor(u, mode), opts...)
	if err != nil {
		closeGorm(db)
		return nil, fmt.Errorf("open %s: %w", u.shown, err)
	}
	return &conn{url: u, appID: appID, backend: b, db: db, tables: tables}, nil
}

// openGorm opens the inspection handle, which also proves the database
// answers.
func openGorm(u dbURL, mode openMode) (*gorm.DB, error) {
	db, err := gorm.Open(dialectorFor(u, mode), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, openError(u, err)
	}
	return db, nil
}

// dialectorFor returns a new dialector of u for mode. A SQLite file opened
// to be read is opened read-only, and immutable when no process has it
// open (sqlite.ImmutableWhenClosed): reading it then needs no permission
// to write it or its directory, and creates no file, not even the -wal and
// -shm files of a WAL database. An immutable read does not see the
// commits of a writer that opens the file after it, so a SQLite file opened
// to be followed is opened read-only only (sqlite.ReadOnly): a WAL database
// no process has open then gets its -wal and -shm files, as any SQLite
// reader makes them, and is opened immutable only where nothing may write
// it. Servers get their usual dialector: statebackend.WithReadOnly keeps
// writes from them.
func dialectorFor(u dbURL, mode openMode) gorm.Dialector {
	switch {
	case u.kind != "sqlite":
	case mode == readExisting:
		return sqlite.Open(u.path, u.sqliteOptions(sqlite.ImmutableWhenClosed())...)
	case mode == readFollowing:
		return sqlite.Open(u.path, u.sqliteOptions(sqlite.ReadOnly())...)
	}
	return u.dialector()
}

// followError says why the SQLite file of u cannot be followed: err, a
// permission error, came from a WAL database that no process has open,
// whose -wal and -shm files a read that sees new commits needs, and this
// process may not create them beside it.
func followError(u dbURL, err error) error {
	var reason error = fs.ErrPermission
	var errno syscall.Errno
	if errors.As(err, &errno) {
		reason = errno
	}
	return fmt.Errorf("cannot follow %s (%w): no process has it open, and to see the commits of a writer that opens it "+
		"later watch --follow needs its -wal and -shm files, which this process may not create beside it; run it while "+
		"the app has the database open, or as a user who may write the file and its directory; watch without --follow "+
		"reads the file as it is", u.path, reason)
}

// migrator is the migrator of one app's schema with the database it
// opened, which Close closes.
type migrator struct {
	*migrations.Migrator
	db *gorm.DB
}

// Close closes the migrator's database.
func (m migrator) Close() { closeGorm(m.db) }

// openMigrator opens the schema of appID on u for mode: readExisting reads
// it only (schema, status, migrate --dry-run).
func (c *cli) openMigrator(u dbURL, appID string, mode openMode) (migrator, error) {
	d := dialectorFor(u, mode)
	if ld, ok := d.(dialect.LoggingDatabase); ok {
		d = ld.WithLogger(c.log) // the MySQL driver logs to stderr otherwise
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return migrator{}, openError(u, err)
	}
	m, err := migrations.NewMigrator(db, migrations.Config{AppID: appID, Logger: c.log, ReadOnly: mode.readOnly()})
	if err != nil {
		closeGorm(db)
		return migrator{}, openError(u, err)
	}
	return migrator{Migrator: m, db: db}, nil
}

// openError says why u could not be opened, with what to check: for a
// server, the URL, the server and the credentials; for a SQLite file that
// cannot be written by a command that writes, how to get write access.
func openError(u dbURL, err error) error {
	if u.kind != "sqlite" {
		return fmt.Errorf("cannot reach the %s database at %s: %w; check the URL, that the server runs, and the credentials", u.kind, u.shown, err)
	}
	if errors.Is(err, statebackend.ErrReadOnly) {
		var reason error = errors.New("it refuses writes")
		var errno syscall.Errno
		if errors.As(err, &errno) {
			reason = errno
		}
		return fmt.Errorf("cannot open %s for writing (%w), and this command writes: run it as a user who may write "+
			"the file and its directory, on a writable file system, or on a writable copy; the read commands "+
			"(status, schema, inspect, workflows, invocations, history, watch, copy --from) read it as it is: %w",
			u.path, reason, statebackend.ErrReadOnly)
	}
	return fmt.Errorf("cannot open %s: %w", u.shown, err)
}

func closeGorm(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// Close closes both handles.
func (cn *conn) Close() error {
	err := cn.backend.Close()
	closeGorm(cn.db)
	return err
}

// appName is how messages name an app.
func appName(appID string) string {
	if appID == "" {
		return "the default app"
	}
	return fmt.Sprintf("app %q", appID)
}

// checkApp fails unless every data table of the app is in the database.
// The tables later schema versions added (the current statuses, the
// leases, the migrations) may be missing: the library reads an older
// schema, and refuses to write one, naming statebackend migrate.
func checkApp(ctx context.Context, db *gorm.DB, u dbURL, appID string, tables entities.Tables) error {
	have, err := listTables(ctx, db)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", u.shown, err)
	}
	var missing []string
	for _, name := range tables.DataNames() {
		if !slices.Contains(have, name) {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) == 0:
		return nil
	case len(missing) < len(tables.DataNames()):
		return fmt.Errorf("%s in %s lacks tables %s: the database was not written by this version of statebackend",
			appName(appID), u.shown, strings.Join(missing, ", "))
	}
	apps := appsByTables(ctx, db, have)
	hint := "the database holds no app"
	if len(apps) > 0 {
		hint = "apps there: " + strings.Join(apps, ", ")
	}
	return fmt.Errorf("%s has no tables in %s (%s); check --app", appName(appID), u.shown, hint)
}

// listTables lists the tables of the database, sorted.
func listTables(ctx context.Context, db *gorm.DB) ([]string, error) {
	names, err := db.WithContext(ctx).Migrator().GetTables()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// appsByTables names the apps whose app-info table is among names, by the
// app ids stored there, or by the table prefix when it holds none.
func appsByTables(ctx context.Context, db *gorm.DB, names []string) []string {
	var out []string
	for _, n := range names {
		if !entities.IsAppInfoTable(n) {
			continue
		}
		var ids []string
		_ = db.WithContext(ctx).Table(n).Order("app_id").Pluck("app_id", &ids).Error
		prefix := strings.TrimSuffix(n, entities.AppInfoSuffix)
		switch {
		case prefix == "":
			out = append(out, "the default app (no --app)")
		case len(ids) > 0:
			for _, id := range ids {
				out = append(out, fmt.Sprintf("%q", id))
			}
		default:
			out = append(out, "tables prefixed "+prefix)
		}
	}
	return out
}

// errNoStatusTable says that an app's schema predates the table of
// current statuses that listing and counting by status read.
var errNoStatusTable = errors.New("its schema predates the table of current statuses that listing and counting by status read: " +
	"run statebackend migrate, which derives it from the history")

// hasStatusTable reports whether the app of tables has its table of
// current statuses.
func hasStatusTable(ctx context.Context, db *gorm.DB, tables entities.Tables) (bool, error) {
	have, err := listTables(ctx, db)
	if err != nil {
		return false, err
	}
	return slices.Contains(have, tables.Name("InvocationStatus")), nil
}

// isNotFound reports a missing entity.
func isNotFound(err error) bool { return errors.Is(err, statebackend.ErrNotFound) }
