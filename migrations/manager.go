package migrations

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"

	"github.com/taskstate/statebackend/dialect"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/state"
)

// migrateCommand is what an operator runs to migrate a database by hand.
const migrateCommand = "statebackend migrate"

// schemaState is what inspect finds in the database.
type schemaState struct {
	// version is the schema version; 0 when the app has no tables.
	version int
	// recorded reports that version comes from the migrations table.
	recorded bool
	// applied lists the recorded migrations in version order.
	applied []Applied
	// minCompatible is the largest MinCompatible recorded (1 when none).
	minCompatible int
}

// inspect reads the schema version of the app's tables. It only reads the
// catalog and the migrations table.
//
// With migrations recorded, the version is the last recorded one, after
// checking the records against the library's migrations. Without (no
// migrations table, or an empty one), it is read from the tables: none is
// version 0, the tables of version 1 are version 1 (a database v0.1.0
// created). Some of them are an interrupted first migration when the
// migrations table exists (MySQL commits each CREATE TABLE on its own;
// migration 1 creates the rest), and a mismatch otherwise: v0.1.0 created
// them together.
func (s *Migrator) inspect(db *gorm.DB) (schemaState, error) {
	table := s.tables.Name("Migration")
	hasTable := db.Migrator().HasTable(table)
	if hasTable {
		var rows []entities.Migration
		if err := db.Table(table).Find(&rows).Error; err != nil {
			return schemaState{}, fmt.Errorf("read %s: %w", table, err)
		}
		if len(rows) > 0 {
			return s.fromRecords(table, rows)
		}
	}
	present, missing := Version1Tables(db, s.tables)
	if len(present) == 0 {
		return schemaState{minCompatible: 1}, nil
	}
	var diffs []string
	for _, d := range DiffVersion1(db, s.tables) {
		if hasTable && strings.HasSuffix(d, " is missing") {
			continue
		}
		diffs = append(diffs, d)
	}
	if len(diffs) > 0 {
		return schemaState{}, fmt.Errorf("the tables of app %q are not those of schema version 1 (v0.1.0) and %s records no migration: %s: %w",
			s.appID, table, strings.Join(diffs, "; "), ErrSchemaMismatch)
	}
	if len(missing) > 0 {
		return schemaState{minCompatible: 1}, nil
	}
	return schemaState{version: 1, minCompatible: 1}, nil
}

// fromRecords checks the records of the migrations table against the
// library's migrations: versions 1 to n, each once, each known one under
// its known id. Versions past the library's are a newer library's.
func (s *Migrator) fromRecords(table string, rows []entities.Migration) (schemaState, error) {
	known := All()
	st := schemaState{recorded: true, minCompatible: 1}
	var problems []string
	for _, row := range rows {
		id := string(row.ID)
		num, name, ok := parseMigrationID(id)
		if !ok {
			problems = append(problems, fmt.Sprintf("record %q is not a migration id", id))
			continue
		}
		if num <= len(known) && known[num-1].ID() != id {
			problems = append(problems, fmt.Sprintf("migration %d is recorded as %q, this library knows it as %q", num, id, known[num-1].ID()))
			continue
		}
		m := Migration{Version: num, Name: name, MinCompatible: int(row.MinCompatible)}
		if num <= len(known) {
			m = known[num-1]
		}
		applied := Applied{Migration: m}
		if row.AppliedAt > 0 {
			applied.AppliedAt = state.FromMicros(row.AppliedAt)
		}
		st.applied = append(st.applied, applied)
		st.minCompatible = max(st.minCompatible, int(row.MinCompatible))
	}
	slices.SortFunc(st.applied, func(a, b Applied) int { return cmp.Compare(a.Version, b.Version) })
	for i, a := range st.applied {
		if a.Version != i+1 {
			problems = append(problems, fmt.Sprintf("migration %d is recorded but migration %d is not", a.Version, i+1))
			break
		}
	}
	if len(problems) > 0 {
		return schemaState{}, fmt.Errorf("%s of app %q does not match this library's migrations: %s: %w",
			table, s.appID, strings.Join(problems, "; "), ErrSchemaMismatch)
	}
	st.version = len(st.applied)
	return st, nil
}

// parseMigrationID splits "0002_retention" into 2 and "retention".
func parseMigrationID(id string) (version int, name string, ok bool) {
	num, name, found := strings.Cut(id, "_")
	if !found || len(num) < 4 || name == "" {
		return 0, "", false
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 {
		return 0, "", false
	}
	return v, name, true
}

// status describes st for callers.
func (s *Migrator) status(st schemaState) Status {
	out := Status{
		Version: st.version, Recorded: st.recorded, Latest: Latest(),
		MinCompatible: st.minCompatible, Applied: st.applied,
	}
	for _, m := range All() {
		if m.Version > st.version {
			out.Pending = append(out.Pending, m)
		}
	}
	return out
}

// CheckReadable checks, without changing anything, that this library can
// read the schema as it is, as statebackend.Open does for a read-only
// database: no tables yet (DiscoverAppInfos still works; reading the
// app's data then fails with the database's error), any version it knows
// (the tables of every version have the columns reads use), or a newer
// one that declares itself compatible. Otherwise it fails with
// ErrSchemaNewer or ErrSchemaMismatch.
func (s *Migrator) CheckReadable(ctx context.Context) error {
	st, err := s.inspect(s.db.WithContext(ctx))
	if err != nil {
		return err
	}
	if st.version > Latest() {
		return s.newer(st)
	}
	return nil
}

// Ensure makes the schema usable by this library, as statebackend.Open
// does by default: it does nothing when the schema is current (or newer
// and declares itself compatible, which it logs), and migrates it to the
// latest version otherwise (see Migrate).
func (s *Migrator) Ensure(ctx context.Context) error { return s.ensure(ctx, true) }

// Check fails with ErrSchemaOutdated, naming the command that migrates
// it, when the schema is older than this library's or missing, as
// statebackend.Open does with WithoutAutoMigrate; it changes nothing. A
// current schema, or a newer one that declares itself compatible, passes.
func (s *Migrator) Check(ctx context.Context) error { return s.ensure(ctx, false) }

// ensure does nothing when the schema is current (or newer and
// compatible), migrates it when auto is set, and fails otherwise.
func (s *Migrator) ensure(ctx context.Context, auto bool) error {
	st, err := s.inspect(s.db.WithContext(ctx))
	if err != nil {
		return err
	}
	latest := Latest()
	switch {
	case st.version > latest:
		if err := s.newer(st); err != nil {
			return err
		}
		s.log.Warn("the database's schema is newer than this library's and declares itself compatible with it",
			"schema_version", st.version, "library_version", latest)
		return nil
	case st.version == latest && st.recorded:
		return nil
	case !auto:
		what := fmt.Sprintf("at version %d", st.version)
		switch {
		case st.version == 0:
			what = "missing (the app has no tables)"
		case !st.recorded:
			what = "at version 1 (created by v0.1.0, not yet recorded)"
		}
		return fmt.Errorf("the schema of app %q is %s and this library needs version %d; automatic migration is off "+
			"(WithoutAutoMigrate): run `%s` (or migrations.Migrator.Migrate) first: %w",
			s.appID, what, latest, migrateCommand, ErrSchemaOutdated)
	}
	_, err = s.migrate(ctx, latest, false)
	return err
}

// newer reports why a database newer than the library cannot be used, or
// nil when its migrations declare it compatible with the library.
func (s *Migrator) newer(st schemaState) error {
	latest := Latest()
	if st.minCompatible <= latest {
		return nil
	}
	return fmt.Errorf("the schema of app %q is at version %d, which needs a library that knows version %d or later; "+
		"this library knows versions up to %d: upgrade statebackend: %w", s.appID, st.version, st.minCompatible, latest, ErrSchemaNewer)
}

// migrate migrates to target (0: the latest), as Migrator.Migrate.
func (s *Migrator) migrate(ctx context.Context, target int, dryRun bool) (Result, error) {
	known := All()
	if target == 0 {
		target = len(known)
	}
	if target < 1 || target > len(known) {
		return Result{}, state.Invalid("target version", fmt.Sprintf("unknown version %d (this library knows 1 to %d)", target, len(known)))
	}
	plan := func(st schemaState) (Result, error) {
		if st.version > len(known) {
			if err := s.newer(st); err != nil {
				return Result{}, err
			}
			return Result{}, fmt.Errorf("the schema of app %q is at version %d, this library knows versions up to %d: "+
				"migrate it with a newer statebackend: %w", s.appID, st.version, len(known), ErrSchemaNewer)
		}
		if target < st.version {
			return Result{}, state.Invalid("target version",
				fmt.Sprintf("%d is below the current version %d (migrations only go forward)", target, st.version))
		}
		res := Result{From: st.version, To: target, RecordVersion1: st.version == 1 && !st.recorded}
		res.Applied = append(res.Applied, known[st.version:target]...)
		return res, nil
	}
	st, err := s.inspect(s.db.WithContext(ctx))
	if err != nil {
		return Result{}, err
	}
	res, err := plan(st)
	if err != nil || dryRun || (len(res.Applied) == 0 && !res.RecordVersion1) {
		return res, err
	}
	if s.dialect.ReadOnly {
		return Result{}, fmt.Errorf("app %q needs migrating from version %d to %d, and the database is open read-only: %w",
			s.appID, res.From, res.To, state.ErrReadOnly)
	}
	name := "statebackend/schema/" + cmp.Or(s.tables.Prefix(), "default")
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = s.dialect.Lock(ctx, s.db, name, func(db *gorm.DB) error {
			// Again under the lock: another process may have migrated
			// while this one waited.
			st, err := s.inspect(db)
			if err != nil {
				return err
			}
			if res, err = plan(st); err != nil {
				return err
			}
			return s.apply(db, st, target)
		})
		reason := s.dialect.Transient(err)
		if err == nil || reason == "" || ctx.Err() != nil {
			return res, err
		}
		level := slog.LevelWarn
		if reason == dialect.TransientBusy { // another process holds the lock: routine
			level = slog.LevelDebug
		}
		s.log.Log(ctx, level, "migration failed on a transient error, retrying", "attempt", attempt, "reason", reason, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return res, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// apply applies the migrations after st up to target, each in a
// transaction of its own, through gormigrate; for an unrecorded version 1
// it starts at migration 1, whose steps find every table in place.
func (s *Migrator) apply(db *gorm.DB, st schemaState, target int) error {
	table := s.tables.Name("Migration")
	if !db.Migrator().HasTable(table) {
		if err := db.Table(table).Migrator().CreateTable(&entities.Migration{}); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
	}
	known := All()
	from := st.version
	if !st.recorded {
		from = 0
	}
	for _, m := range known[from:target] {
		began := time.Now()
		if m.Backfill != nil {
			// Make the new schema first, then derive its data in
			// batches; the migration is recorded (below) once both are
			// done, so a run that stops is finished by the next.
			err := db.Transaction(func(tx *gorm.DB) error { return s.applySteps(tx, m) })
			if err == nil {
				err = m.Backfill(db.Statement.Context, db, s.tables, s.log.With("version", m.Version, "name", m.Name))
			}
			if err != nil {
				return fmt.Errorf("migration %s: %w", m.ID(), err)
			}
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			g := gormigrate.New(tx, &gormigrate.Options{
				TableName: table, IDColumnName: "id", IDColumnSize: 255, UseTransaction: false,
			}, s.gormigrations(known[:m.Version]))
			if err := g.MigrateTo(m.ID()); err != nil {
				return err
			}
			return tx.Table(table).Where("id = ?", m.ID()).Updates(map[string]any{
				"min_compatible": m.MinCompatible, "applied_at": state.ToMicros(time.Now()),
			}).Error
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.ID(), err)
		}
		s.log.Info("applied schema migration", "version", m.Version, "name", m.Name, "took", time.Since(began))
	}
	return nil
}

// gormigrations wraps ms for gormigrate: each runs its steps, skipping
// those already done.
func (s *Migrator) gormigrations(ms []Migration) []*gormigrate.Migration {
	out := make([]*gormigrate.Migration, len(ms))
	for i, m := range ms {
		out[i] = &gormigrate.Migration{ID: m.ID(), Migrate: func(tx *gorm.DB) error {
			return s.applySteps(tx, m)
		}}
	}
	return out
}

// applySteps applies the steps of m that are not done yet.
func (s *Migrator) applySteps(tx *gorm.DB, m Migration) error {
	for _, step := range m.Steps {
		done, err := step.Done(tx, s.tables)
		if err != nil {
			if s.dialect.Transient(err) != "" {
				// A deadlock or a lost certification (Galera aborts
				// catalog reads beside another app's DDL): the caller
				// retries the migration.
				return fmt.Errorf("%s: %w", step.Name, err)
			}
			return fmt.Errorf("%s: %v: %w", step.Name, err, ErrSchemaMismatch)
		}
		if done {
			s.log.Debug("schema migration step already done", "version", m.Version, "step", step.Name)
			continue
		}
		if err := step.Apply(tx, s.tables); err != nil {
			return fmt.Errorf("%s: %w", step.Name, err)
		}
		s.log.Info("applied schema migration step", "version", m.Version, "step", step.Name)
	}
	return nil
}
