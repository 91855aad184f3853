package reliability_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/taskstate/statebackend"
	"github.com/taskstate/statebackend/conformance"
	"github.com/taskstate/statebackend/conformance/mysqltest"
	"github.com/taskstate/statebackend/conformance/pgtest"
	"github.com/taskstate/statebackend/entities"
	"github.com/taskstate/statebackend/internal/schematest"
	"github.com/taskstate/statebackend/migrations"
	"github.com/taskstate/statebackend/mysql"
	"github.com/taskstate/statebackend/postgres"
	"github.com/taskstate/statebackend/sqlite"
)

// upgradeRows is how many invocations the version-1 databases of these
// tests hold (with their history, results, workflows...).
const upgradeRows = 500

// migrationLog is a slog.Handler that counts the migrations the backend
// reports applying, by version, and can stop the process at a step.
type migrationLog struct {
	mu      sync.Mutex
	applied map[int]int
	done    map[string]int // steps found done, by step name
	// pauseAt, when not empty, is the step after whose application the
	// handler tells the parent "paused" and blocks forever.
	pauseAt string
}

func newMigrationLog() *migrationLog {
	return &migrationLog{applied: map[int]int{}, done: map[string]int{}}
}

func (h *migrationLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *migrationLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *migrationLog) WithGroup(string) slog.Handler            { return h }

func (h *migrationLog) Handle(_ context.Context, r slog.Record) error {
	var version int
	var step string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "version":
			version = int(a.Value.Int64())
		case "step":
			step = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	switch r.Message {
	case "applied schema migration":
		h.applied[version]++
	case "schema migration step already done":
		h.done[step]++
	}
	h.mu.Unlock()
	if r.Message == "applied schema migration step" && step == h.pauseAt {
		say("paused step=%q", step)
		select {} // until the parent kills the process
	}
	return nil
}

// counts returns the applied migrations by version.
func (h *migrationLog) counts() map[int]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int]int{}
	for k, v := range h.applied {
		out[k] = v
	}
	return out
}

// version1DB is a database at schema version 1 with data, for one app.
type version1DB struct {
	kind      schematest.Dialect
	appID     string
	dialector func() gorm.Dialector
	data      *schematest.Data
}

// newVersion1DB creates the tables of a new app as v0.1.0 did on a
// database of kind, fills them, and drops them when t ends (servers).
func newVersion1DB(t *testing.T, kind schematest.Dialect) *version1DB {
	t.Helper()
	v := &version1DB{kind: kind, appID: conformance.NewAppID()}
	switch kind {
	case schematest.SQLite:
		path := filepath.Join(t.TempDir(), "v1.db")
		v.dialector = func() gorm.Dialector { return sqlite.Open(path) }
	case schematest.Postgres:
		dsn := pgtest.DSN(t)
		v.dialector = func() gorm.Dialector { return postgres.Open(dsn) }
	case schematest.MySQL:
		dsn := mysqltest.DSN(t)
		v.dialector = func() gorm.Dialector { return mysql.Open(dsn) }
	}
	raw, err := gorm.Open(v.dialector(), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := raw.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	tables, err := entities.NewTables(v.appID, kind.MaxIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	if kind != schematest.SQLite {
		t.Cleanup(func() {
			for _, name := range tables.Names() {
				_ = raw.Migrator().DropTable(name)
			}
		})
	}
	if err := schematest.CreateVersion1(raw, kind, v.appID, false); err != nil {
		t.Fatal(err)
	}
	if v.data, err = schematest.Fill(raw, tables, v.appID, upgradeRows); err != nil {
		t.Fatal(err)
	}
	return v
}

// open opens the app with extra options.
func (v *version1DB) open(opts ...statebackend.Option) (*statebackend.Store, error) {
	return statebackend.Open(v.dialector(), append([]statebackend.Option{statebackend.WithAppID(v.appID)}, opts...)...)
}

// verify checks that the schema is current and recorded and the data
// intact.
func (v *version1DB) verify(t *testing.T) {
	t.Helper()
	m := schematest.Migrator(t, v.dialector(), v.appID)
	st, err := m.Status(t.Context())
	if err != nil || !st.Recorded || st.Version != migrations.Latest() || len(st.Applied) != st.Version {
		t.Fatalf("schema after the upgrade: %+v, %v; want version %d recorded", st, err, migrations.Latest())
	}
	b, err := v.open(statebackend.WithoutAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := v.data.Check(t.Context(), b); err != nil {
		t.Fatalf("data after the upgrade: %v", err)
	}
}

// wantEachAppliedOnce fails t unless every migration was applied (or, for
// version 1 of a v0.1.0 database, recorded) exactly once in all.
func wantEachAppliedOnce(t *testing.T, counts map[int]int) {
	t.Helper()
	for v := 1; v <= migrations.Latest(); v++ {
		if counts[v] != 1 {
			t.Errorf("migration %d was applied %d times in all, want once (counts by version: %v)", v, counts[v], counts)
		}
	}
	if len(counts) != migrations.Latest() {
		t.Errorf("applied migrations by version: %v", counts)
	}
}

// TestConcurrentUpgradeSQLite starts RELIABILITY_UPGRADE_PROCS (8)
// processes that open one SQLite file at schema version 1, with data, at
// the same moment. Afterwards the schema is current and recorded, each
// migration was applied by exactly one of them, and the data reads back
// intact.
func TestConcurrentUpgradeSQLite(t *testing.T) {
	t.Parallel()
	procs := envInt(t, "RELIABILITY_UPGRADE_PROCS", 8)
	v := newVersion1DB(t, schematest.SQLite)
	path := filepath.Join(filepath.Dir(v.dialector().(*sqlite.Dialector).DSN[len("file:"):]), "v1.db")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var children []*child
	for p := range procs {
		children = append(children, startChild(ctx, t, "opener "+strconv.Itoa(p), "TestChildUpgradeOpener", "upgrade-opener",
			"RELIABILITY_DB="+path, "RELIABILITY_APP="+v.appID))
	}
	for _, c := range children {
		c.expect(t, "ready", 2*time.Minute)
	}
	for _, c := range children {
		if _, err := fmt.Fprintln(c.stdin, "go"); err != nil {
			t.Fatal(err)
		}
	}
	total := map[int]int{}
	for _, c := range children {
		lines, code := c.wait()
		if code != 0 {
			t.Fatalf("%s exited with code %d:\n%s", c.name, code, c.output())
		}
		line := lastPrefix(lines, "opened")
		for ver := 1; ver <= migrations.Latest(); ver++ {
			n, _ := strconv.Atoi(field(line, "v"+strconv.Itoa(ver)))
			total[ver] += n
		}
	}
	wantEachAppliedOnce(t, total)
	v.verify(t)
}

// TestChildUpgradeOpener is a process of TestConcurrentUpgradeSQLite: it
// opens the file when told and reports the migrations it applied.
func TestChildUpgradeOpener(t *testing.T) {
	childRole(t, "upgrade-opener")
	awaitGo(t)
	log := newMigrationLog()
	b, err := statebackend.Open(sqlite.Open(os.Getenv("RELIABILITY_DB")), statebackend.WithAppID(os.Getenv("RELIABILITY_APP")),
		statebackend.WithLogger(slog.New(log)))
	if err != nil {
		say("error open: %v", err)
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	line := "opened"
	for ver, n := range log.counts() {
		line += fmt.Sprintf(" v%d=%d", ver, n)
	}
	say("%s", line)
}

// TestConcurrentUpgradePostgres opens one Postgres app at schema version 1,
// with data, from RELIABILITY_UPGRADE_OPENERS (16) backends at once, each
// with a connection pool of its own, as that many processes would.
// Afterwards the schema is current, each migration applied once, the data
// intact.
func TestConcurrentUpgradePostgres(t *testing.T) {
	t.Parallel()
	concurrentUpgrade(t, newVersion1DB(t, schematest.Postgres))
}

// TestConcurrentUpgradeMySQL is TestConcurrentUpgradePostgres on MySQL or
// MariaDB.
func TestConcurrentUpgradeMySQL(t *testing.T) {
	t.Parallel()
	concurrentUpgrade(t, newVersion1DB(t, schematest.MySQL))
}

func concurrentUpgrade(t *testing.T, v *version1DB) {
	openers := envInt(t, "RELIABILITY_UPGRADE_OPENERS", 16)
	log := newMigrationLog()
	start := make(chan struct{})
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() {
			<-start
			b, err := v.open(statebackend.WithLogger(slog.New(log)), statebackend.WithPool(statebackend.Pool{MaxOpenConns: 2}))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = b.Close()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	wantEachAppliedOnce(t, log.counts())
	v.verify(t)
}

// TestMigrationKilledMidway kills a process while it migrates a version-1
// database, right after the first step of migration 2 (an index on the
// history table) has been applied, then opens the database again. On
// MySQL the step's DDL has committed on its own: the index is there but
// migration 2 is not recorded, and the next run finds the step done and
// finishes the rest. On Postgres the killed transaction of migration 2
// rolls back (version 1 stays recorded), on SQLite the whole run's (the
// lock is its one transaction, so version 1 is unrecorded again): the next
// run applies all of what is missing. Either way the schema ends current,
// each migration recorded once, the data intact.
func TestMigrationKilledMidway(t *testing.T) {
	t.Parallel()
	for _, kind := range []schematest.Dialect{schematest.SQLite, schematest.Postgres, schematest.MySQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			v := newVersion1DB(t, kind)
			dsn := ""
			switch d := v.dialector().(type) {
			case *sqlite.Dialector:
				dsn = filepath.Join(filepath.Dir(d.DSN[len("file:"):]), "v1.db")
			case *postgres.Dialector:
				dsn = d.Config.DSN
			case *mysql.Dialector:
				dsn = d.Config.DSN
			}
			const step = "create index History.status_time"
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			c := startChild(ctx, t, "migrator", "TestChildKilledMigrator", "killed-migrator",
				"RELIABILITY_KIND="+string(kind), "RELIABILITY_DB="+dsn, "RELIABILITY_APP="+v.appID, "RELIABILITY_PAUSE="+step)
			c.expect(t, "paused", 2*time.Minute)
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if _, code := c.wait(); code != -1 {
				t.Fatalf("migrator exited with code %d, want killed:\n%s", code, c.output())
			}

			m := schematest.Migrator(t, v.dialector(), v.appID)
			st, err := m.Status(t.Context())
			recorded := kind != schematest.SQLite
			if err != nil || st.Version != 1 || st.Recorded != recorded || len(st.Pending) != migrations.Latest()-1 {
				t.Fatalf("schema after the kill: %+v, %v; want version 1 (recorded: %t), the rest pending", st, err, recorded)
			}
			log := newMigrationLog()
			b, err := v.open(statebackend.WithLogger(slog.New(log)))
			if err != nil {
				t.Fatalf("open after the kill: %v", err)
			}
			_ = b.Close()
			want := map[int]int{}
			for v := 2; v <= migrations.Latest(); v++ {
				want[v] = 1
			}
			if !recorded {
				want[1] = 1
			}
			if got := log.counts(); !maps.Equal(got, want) {
				t.Errorf("the run after the kill applied %v, want %v", got, want)
			}
			wantDone := 0
			if kind == schematest.MySQL {
				wantDone = 1
			}
			if got := log.done[step]; got != wantDone {
				t.Errorf("the run after the kill found %q done %d times, want %d", step, got, wantDone)
			}
			v.verify(t)
		})
	}
}

// TestChildKilledMigrator is the process TestMigrationKilledMidway kills:
// it opens the database and stops for good after the step named in
// RELIABILITY_PAUSE.
func TestChildKilledMigrator(t *testing.T) {
	childRole(t, "killed-migrator")
	var d gorm.Dialector
	switch dsn := os.Getenv("RELIABILITY_DB"); schematest.Dialect(os.Getenv("RELIABILITY_KIND")) {
	case schematest.SQLite:
		d = sqlite.Open(dsn)
	case schematest.Postgres:
		d = postgres.Open(dsn)
	case schematest.MySQL:
		d = mysql.Open(dsn)
	}
	log := newMigrationLog()
	log.pauseAt = os.Getenv("RELIABILITY_PAUSE")
	_, err := statebackend.Open(d, statebackend.WithAppID(os.Getenv("RELIABILITY_APP")), statebackend.WithLogger(slog.New(log)))
	say("error: open returned (%v) without pausing", err)
	t.Fatal("the migration never reached the pause")
}
