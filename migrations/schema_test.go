package migrations_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
)

// forEachDatabase runs fn as a parallel subtest on every schema database.
func forEachDatabase(t *testing.T, fn func(t *testing.T, db *schemaDB)) {
	t.Helper()
	for _, kind := range schemaDatabases {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, newSchemaDB(t, kind))
		})
	}
}

// TestMigrationOneIsVersionOneFixture proves that migration 1 creates
// exactly the schema v0.1.0 created: a database made from the DDL v0.1.0
// issued and one made by migrating to version 1 have the same columns
// (types, sizes, collations, nullability, keys) and indexes, and the
// index names v0.1.0 gave. On SQLite it compares the two fixture apps
// themselves (the default app and FixtureAppID), each in a file of its
// own; on the servers, two fresh apps side by side.
func TestMigrationOneIsVersionOneFixture(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		apps := [][2]string{{db.newAppID(t), db.newAppID(t)}}
		if db.kind == schematest.SQLite {
			apps = [][2]string{{"", ""}, {schematest.FixtureAppID, schematest.FixtureAppID}}
		}
		for _, pair := range apps {
			fixtureApp, migratedApp := pair[0], pair[1]
			fixtureDB, migratedDB := db, db
			if db.kind == schematest.SQLite {
				migratedDB = newSchemaDB(t, db.kind)
			}
			fixtureDB.createVersion1(t, fixtureApp, false)
			res, err := migratedDB.migrator(t, migratedApp).Migrate(t.Context(), migrations.Options{To: 1})
			if err != nil || res.From != 0 || res.To != 1 || len(res.Applied) != 1 {
				t.Fatalf("Migrate(To: 1) on a new database = %+v, %v; want version 0 to 1, one migration", res, err)
			}
			models := schematest.Version1Models()
			want := fixtureDB.describe(t, fixtureApp, models...)
			got := migratedDB.describe(t, migratedApp, models...)
			if got != want {
				t.Errorf("app %q: migration 1 creates\n%s\nv0.1.0 created\n%s", migratedApp, got, want)
			}
			for _, c := range []struct {
				db  *schemaDB
				app string
			}{{fixtureDB, fixtureApp}, {migratedDB, migratedApp}} {
				got, err := schematest.IndexNames(c.db.raw, c.db.tables(t, c.app), models...)
				if err != nil {
					t.Fatal(err)
				}
				if want := version1IndexNames(t, c.db, c.app); !slices.Equal(got, want) {
					t.Errorf("app %q: index names %v, want %v", c.app, got, want)
				}
			}
		}
	})
}

// version1IndexNames returns the names v0.1.0 gives the indexes of app.
func version1IndexNames(t *testing.T, db *schemaDB, app string) []string {
	t.Helper()
	tables := db.tables(t, app)
	namer := tables.Namer(db.kind.MaxIdentifier())
	var out []string
	for model, idx := range map[string][]string{
		"Invocation": {"parent", "workflow", "workflow_type"}, "History": {"entry", "time"}, "Workflow": {"type"},
	} {
		for _, i := range idx {
			out = append(out, namer.IndexName(tables.Name(model), i))
		}
	}
	slices.Sort(out)
	return out
}

// TestVersionOneIsRecognized proves that a database v0.1.0 created (on
// SQLite, also one from before v0.1.0 dropped AUTOINCREMENT) reads as
// version 1, not recorded, with migration 2 pending; that Open records and
// migrates it; and that the migrated schema is the schema of a new
// database.
func TestVersionOneIsRecognized(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		variants := []bool{false}
		if db.kind == schematest.SQLite {
			variants = []bool{false, true}
		}
		fresh := db.newAppID(t)
		if _, err := db.open(t, fresh); err != nil {
			t.Fatal(err)
		}
		for _, autoincrement := range variants {
			app := db.newAppID(t)
			db.createVersion1(t, app, autoincrement)
			m := db.migrator(t, app)
			st, err := m.Status(t.Context())
			if err != nil {
				t.Fatalf("Status of a v0.1.0 database: %v", err)
			}
			if st.Version != 1 || st.Recorded || st.Latest != migrations.Latest() ||
				len(st.Pending) != st.Latest-1 || len(st.Applied) != 0 {
				t.Fatalf("Status of a v0.1.0 database (autoincrement %t) = %+v; want version 1, not recorded, %d pending",
					autoincrement, st, st.Latest-1)
			}
			if _, err := db.open(t, app); err != nil {
				t.Fatalf("Open of a v0.1.0 database: %v", err)
			}
			st, err = m.Status(t.Context())
			if err != nil || !st.Usable() || st.Version != st.Latest || len(st.Applied) != st.Latest || len(st.Pending) != 0 {
				t.Fatalf("Status after Open = %+v, %v; want the latest version, recorded", st, err)
			}
			want := db.describe(t, fresh)
			got := db.describe(t, app)
			if autoincrement {
				// The one difference such files keep.
				got = strings.Replace(got, "history: autoincrement=true", "history: autoincrement=false", 1)
			}
			if got != want {
				t.Errorf("upgraded schema (autoincrement %t)\n%s\ndiffers from a new database's\n%s", autoincrement, got, want)
			}
		}
	})
}

// TestNewSchemaMatchesEntities proves that the migrations and the entities
// package (which documents the latest schema) agree: after Open on a new
// database, every column and index the models declare exists.
func TestNewSchemaMatchesEntities(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		app := db.newAppID(t)
		if _, err := db.open(t, app); err != nil {
			t.Fatal(err)
		}
		gdb := db.gormFor(t, app)
		for _, model := range append(entities.All(), entities.Bookkeeping()...) {
			cols, err := gdb.Migrator().ColumnTypes(model)
			if err != nil {
				t.Fatalf("%T: %v", model, err)
			}
			var have []string
			for _, c := range cols {
				have = append(have, c.Name())
			}
			s := parseModel(t, gdb, model)
			for _, f := range s.Fields {
				if !slices.Contains(have, f.DBName) {
					t.Errorf("%s: no column %s", s.Table, f.DBName)
				}
			}
			for _, idx := range s.ParseIndexes() {
				if !gdb.Migrator().HasIndex(model, idx.Name) {
					t.Errorf("%s: no index %s", s.Table, idx.Name)
				}
			}
		}
	})
}

// TestSchemaErrors covers the refusals: each fails with the documented
// error, names what is wrong, and changes nothing.
func TestSchemaErrors(t *testing.T) {
	t.Parallel()
	latest := migrations.Latest()
	forEachDatabase(t, func(t *testing.T, db *schemaDB) {
		ctx := t.Context()
		t.Run("unknown_target", func(t *testing.T) {
			app := db.newAppID(t)
			db.createVersion1(t, app, false)
			before := db.describe(t, app)
			for _, to := range []int{-1, latest + 1, 99} {
				_, err := db.migrator(t, app).Migrate(ctx, migrations.Options{To: to})
				wantErr(t, err, statebackend.ErrInvalidArgument, "unknown version")
			}
			if after := db.describe(t, app); after != before {
				t.Errorf("a refused migration changed the schema:\n%s\nwas\n%s", after, before)
			}
		})
		t.Run("target_below_current", func(t *testing.T) {
			app := db.newAppID(t)
			if _, err := db.open(t, app); err != nil {
				t.Fatal(err)
			}
			_, err := db.migrator(t, app).Migrate(ctx, migrations.Options{To: 1})
			wantErr(t, err, statebackend.ErrInvalidArgument, "below the current version")
		})
		t.Run("migrations_table_mismatch", func(t *testing.T) {
			cases := []struct {
				name, change, want string
			}{
				{"renamed", "UPDATE %s SET id = '0002_other' WHERE id = '0002_retention'", `recorded as "0002_other"`},
				{"gap", "DELETE FROM %s WHERE id = '0001_initial'", "migration 1 is not"},
				{"garbage", "INSERT INTO %s (id) VALUES ('SCHEMA_INIT')", `"SCHEMA_INIT" is not a migration id`},
			}
			for _, c := range cases {
				app := db.newAppID(t)
				if _, err := db.open(t, app); err != nil {
					t.Fatal(err)
				}
				table := db.tables(t, app).Name("Migration")
				if err := db.raw.Exec(strings.ReplaceAll(c.change, "%s", table)).Error; err != nil {
					t.Fatal(err)
				}
				before := db.describe(t, app)
				_, err := db.open(t, app)
				wantErr(t, err, migrations.ErrSchemaMismatch, c.want)
				_, err = db.migrator(t, app).Migrate(ctx, migrations.Options{})
				wantErr(t, err, migrations.ErrSchemaMismatch, c.want)
				_, err = db.migrator(t, app).Status(ctx)
				wantErr(t, err, migrations.ErrSchemaMismatch, c.want)
				if after := db.describe(t, app); after != before {
					t.Errorf("%s: a refused open changed the schema", c.name)
				}
			}
		})
		t.Run("tables_mismatch", func(t *testing.T) {
			cases := []struct {
				name   string
				change func(tables entities.Tables) string
				want   string
			}{
				{"missing_table", func(tb entities.Tables) string { return "DROP TABLE " + tb.Name("WorkflowData") },
					"workflow_data is missing"},
				{"extra_column", func(tb entities.Tables) string {
					return "ALTER TABLE " + tb.Name("Invocation") + " ADD COLUMN parent_call_id text"
				}, "unexpected column parent_call_id"},
				{"real_timestamps", func(tb entities.Tables) string {
					return "DROP TABLE " + tb.Name("History") + "; CREATE TABLE " + tb.Name("History") +
						" (id integer PRIMARY KEY, invocation_id text NOT NULL, history_timestamp real NOT NULL," +
						" history_status text NOT NULL, history_json text NOT NULL)"
				}, "history_timestamp is"},
			}
			for _, c := range cases {
				if c.name == "real_timestamps" && db.kind != schematest.SQLite {
					continue // pynenc's own schema is SQLite's
				}
				app := db.newAppID(t)
				db.createVersion1(t, app, false)
				for _, stmt := range strings.Split(c.change(db.tables(t, app)), "; ") {
					if err := db.raw.Exec(stmt).Error; err != nil {
						t.Fatal(err)
					}
				}
				before := db.describe(t, app)
				_, err := db.open(t, app)
				wantErr(t, err, migrations.ErrSchemaMismatch, c.want)
				if after := db.describe(t, app); after != before {
					t.Errorf("%s: a refused open changed the schema:\n%s\nwas\n%s", c.name, after, before)
				}
			}
		})
		t.Run("newer", func(t *testing.T) {
			for _, c := range []struct {
				minCompatible int
				usable        bool
			}{{latest + 1, false}, {1, true}} {
				app := db.newAppID(t)
				if _, err := db.open(t, app); err != nil {
					t.Fatal(err)
				}
				future := entities.Migration{ID: entities.Key(migrationID(latest+1, "future")), MinCompatible: int64(c.minCompatible), AppliedAt: 1}
				if err := db.raw.Table(db.tables(t, app).Name("Migration")).Create(&future).Error; err != nil {
					t.Fatal(err)
				}
				_, err := db.open(t, app)
				if c.usable {
					if err != nil {
						t.Errorf("Open of a newer schema that declares itself compatible: %v", err)
					}
				} else {
					wantErr(t, err, migrations.ErrSchemaNewer, "upgrade statebackend")
					wantErr(t, err, migrations.ErrSchemaNewer, "version "+itoa(latest+1))
				}
				_, err = db.migrator(t, app).Migrate(ctx, migrations.Options{})
				wantErr(t, err, migrations.ErrSchemaNewer, "version "+itoa(latest+1))
				st, err := db.migrator(t, app).Status(ctx)
				if err != nil || st.Version != latest+1 || st.Usable() != c.usable || len(st.Pending) != 0 {
					t.Errorf("Status of a newer schema = %+v, %v", st, err)
				}
			}
		})
		t.Run("without_auto_migrate", func(t *testing.T) {
			empty := db.newAppID(t)
			_, err := db.open(t, empty, statebackend.WithoutAutoMigrate())
			wantErr(t, err, migrations.ErrSchemaOutdated, "statebackend migrate")
			if d := db.describe(t, empty); d != "" {
				t.Errorf("Open WithoutAutoMigrate created tables:\n%s", d)
			}
			old := db.newAppID(t)
			db.createVersion1(t, old, false)
			before := db.describe(t, old)
			_, err = db.open(t, old, statebackend.WithoutAutoMigrate())
			wantErr(t, err, migrations.ErrSchemaOutdated, "statebackend migrate")
			if after := db.describe(t, old); after != before {
				t.Errorf("Open WithoutAutoMigrate changed a v0.1.0 schema:\n%s\nwas\n%s", after, before)
			}
			if _, err := db.migrator(t, old).Migrate(ctx, migrations.Options{}); err != nil {
				t.Fatal(err)
			}
			b, err := db.open(t, old, statebackend.WithoutAutoMigrate())
			if err != nil {
				t.Fatalf("Open WithoutAutoMigrate of a migrated database: %v", err)
			}
			if err := b.StoreAppInfo(ctx, statebackend.AppInfo{AppID: old}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("dry_run_and_steps", func(t *testing.T) {
			app := db.newAppID(t)
			db.createVersion1(t, app, false)
			before := db.describe(t, app)
			m := db.migrator(t, app)
			res, err := m.Migrate(ctx, migrations.Options{DryRun: true})
			if err != nil || res.From != 1 || res.To != latest || !res.RecordVersion1 || len(res.Applied) != latest-1 {
				t.Fatalf("dry run = %+v, %v; want 1 to %d, recording version 1", res, err, latest)
			}
			if after := db.describe(t, app); after != before {
				t.Fatalf("a dry run changed the schema")
			}
			res, err = m.Migrate(ctx, migrations.Options{To: 1})
			if err != nil || res.From != 1 || res.To != 1 || !res.RecordVersion1 || len(res.Applied) != 0 {
				t.Fatalf("Migrate(To: 1) of a v0.1.0 database = %+v, %v; want version 1 recorded, nothing applied", res, err)
			}
			st, err := m.Status(ctx)
			if err != nil || st.Version != 1 || !st.Recorded || len(st.Applied) != 1 || st.Applied[0].AppliedAt.IsZero() {
				t.Fatalf("Status after recording version 1 = %+v, %v", st, err)
			}
			if got := db.describe(t, app, schematest.Version1Models()...); got != before {
				t.Errorf("recording version 1 changed the tables:\n%s\nwas\n%s", got, before)
			}
			res, err = m.Migrate(ctx, migrations.Options{})
			if err != nil || res.From != 1 || res.To != latest || res.RecordVersion1 || len(res.Applied) != latest-1 {
				t.Fatalf("Migrate() = %+v, %v", res, err)
			}
			res, err = m.Migrate(ctx, migrations.Options{})
			if err != nil || res.From != latest || len(res.Applied) != 0 {
				t.Fatalf("Migrate() of a current database = %+v, %v; want nothing to do", res, err)
			}
		})
	})
}

// wantErr fails t unless err wraps target and its message contains text.
func wantErr(t *testing.T, err, target error, text string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v, want one wrapping %q", err, target)
		return
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}

func migrationID(version int, name string) string {
	return migrations.Migration{Version: version, Name: name}.ID()
}

func itoa(i int) string { return strconv.Itoa(i) }
