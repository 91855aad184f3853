// Package schematest builds databases at schema version 1 for tests, from
// the DDL v0.1.0 itself issued, and describes schemas for comparison.
//
// The files under testdata/v0.1.0 were captured by running v0.1.0's Open
// (commit 1f58f03) with a GORM logger that wrote down every CREATE
// statement it executed, once for the default app and once for the app id
// "upgrade_fixture", on SQLite, Postgres 15 and MariaDB 10.11. The
// sqlite_autoincrement_* files come the same way from the commit before
// v0.1.0 dropped AUTOINCREMENT from the SQLite history id (87a1c04). They
// are frozen: they are what databases in the field look like.
package schematest

import (
	"embed"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/taskstate/statebackend/entities"
)

//go:embed testdata/v0.1.0/*.sql
var fixtures embed.FS

// Dialect names a database as the fixture files do: "sqlite", "postgres"
// or "mysql".
type Dialect string

// Databases of the fixtures.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// FixtureAppID is the app id of the upgrade_fixture files.
const FixtureAppID = "upgrade_fixture"

// MaxIdentifier returns the identifier limit the backend uses on d, as
// entities.NewTables takes it.
func (d Dialect) MaxIdentifier() int {
	switch d {
	case Postgres:
		return 63
	case MySQL:
		return 64
	}
	return 0
}

// quote returns the identifier quote character of d's DDL.
func (d Dialect) quote() string {
	if d == Postgres {
		return `"`
	}
	return "`"
}

// Statements returns the statements of one fixture file: d's, for the
// default app (fixture "default") or for FixtureAppID ("upgrade_fixture"),
// with AUTOINCREMENT on the SQLite history id when autoincrement is set.
func Statements(d Dialect, fixture string, autoincrement bool) ([]string, error) {
	name := string(d)
	if autoincrement {
		if d != SQLite {
			return nil, fmt.Errorf("schematest: only SQLite has an AUTOINCREMENT fixture")
		}
		name += "_autoincrement"
	}
	b, err := fixtures.ReadFile("testdata/v0.1.0/" + name + "_" + fixture + ".sql")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range strings.Split(string(b), ";\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// v1Indexes lists the indexes of version 1 by table (entities names) as
// their models' tags name them.
var v1Indexes = map[string][]string{
	"Invocation": {"parent", "workflow", "workflow_type"},
	"History":    {"entry", "time"},
	"Workflow":   {"type"},
}

// v1Models lists the tables of version 1 by their entities names.
var v1Models = []string{
	"Result", "Exception", "Invocation", "RunnerContext", "History",
	"Workflow", "AppInfo", "WorkflowData", "WorkflowSubInvocation",
}

// Version1DDL returns the statements v0.1.0 issued to create the tables of
// appID on d: the upgrade_fixture file (the default one for appID ""),
// with every table and index name renamed for appID. The renaming uses
// this module's naming rules, so a rule that changed since v0.1.0 would
// leave a fixture name in place, and the tests comparing schemas fail.
func Version1DDL(d Dialect, appID string, autoincrement bool) ([]string, error) {
	if appID == "" {
		return Statements(d, "default", autoincrement)
	}
	stmts, err := Statements(d, "upgrade_fixture", autoincrement)
	if err != nil {
		return nil, err
	}
	from, err := entities.NewTables(FixtureAppID, d.MaxIdentifier())
	if err != nil {
		return nil, err
	}
	to, err := entities.NewTables(appID, d.MaxIdentifier())
	if err != nil {
		return nil, err
	}
	fromNamer, toNamer := from.Namer(d.MaxIdentifier()), to.Namer(d.MaxIdentifier())
	q := d.quote()
	var pairs []string
	for _, m := range v1Models {
		pairs = append(pairs, q+from.Name(m)+q, q+to.Name(m)+q)
		for _, idx := range v1Indexes[m] {
			pairs = append(pairs, q+fromNamer.IndexName(from.Name(m), idx)+q, q+toNamer.IndexName(to.Name(m), idx)+q)
		}
	}
	r := strings.NewReplacer(pairs...)
	for i, s := range stmts {
		stmts[i] = r.Replace(s)
	}
	return stmts, nil
}

// CreateVersion1 creates the tables of appID on db as v0.1.0 did.
func CreateVersion1(db *gorm.DB, d Dialect, appID string, autoincrement bool) error {
	stmts, err := Version1DDL(d, appID, autoincrement)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			return fmt.Errorf("schematest: %s: %w", s, err)
		}
	}
	return nil
}

// Describe returns a description of the tables of t on db, from the
// catalog: for each table its columns (name, type, nullability, key,
// collation where the database has one) and its indexes (unique or not,
// columns), one line each, sorted, with t's prefix replaced by "<app>" and
// index names left out (Names compares those). Two apps whose schemas are
// identical have equal descriptions.
func Describe(db *gorm.DB, d Dialect, t entities.Tables, models ...string) (string, error) {
	var lines []string
	for _, m := range models {
		table := t.Name(m)
		rows, err := describeTable(db, d, table)
		if err != nil {
			return "", fmt.Errorf("describe %s: %w", table, err)
		}
		logical := strings.Replace(table, t.Prefix(), "<app>", 1)
		for _, r := range rows {
			lines = append(lines, logical+": "+r)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// IndexNames returns the names of the indexes on the tables of t (primary
// keys left out), sorted.
func IndexNames(db *gorm.DB, t entities.Tables, models ...string) ([]string, error) {
	var out []string
	for _, m := range models {
		idx, err := db.Migrator().GetIndexes(t.Name(m))
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			if pk, _ := i.PrimaryKey(); pk || strings.HasSuffix(i.Name(), "_pkey") || i.Name() == "PRIMARY" ||
				strings.HasPrefix(i.Name(), "sqlite_autoindex_") {
				continue
			}
			out = append(out, i.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Version1Models returns the entities names of the tables of version 1.
func Version1Models() []string { return append([]string(nil), v1Models...) }

func describeTable(db *gorm.DB, d Dialect, table string) ([]string, error) {
	var out []string
	switch d {
	case SQLite:
		var cols []struct {
			Name    string
			Type    string
			NotNull int
			Pk      int
		}
		if err := db.Raw("SELECT name, type, \"notnull\" AS not_null, pk FROM pragma_table_info(?)", table).Scan(&cols).Error; err != nil {
			return nil, err
		}
		for _, c := range cols {
			out = append(out, fmt.Sprintf("column %s %s notnull=%d pk=%d", c.Name, strings.ToLower(c.Type), c.NotNull, c.Pk))
		}
		var ddl string
		if err := db.Raw("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&ddl).Error; err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("autoincrement=%t", strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT")))
	case Postgres:
		var cols []struct {
			ColumnName             string
			DataType               string
			CharacterMaximumLength *int
			CollationName          *string
			IsNullable             string
			ColumnDefault          *string
		}
		if err := db.Raw(`SELECT column_name, data_type, character_maximum_length, collation_name, is_nullable, column_default
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`, table).Scan(&cols).Error; err != nil {
			return nil, err
		}
		for _, c := range cols {
			def := ""
			if c.ColumnDefault != nil {
				// nextval('<table>_id_seq'::regclass): the sequence is named after the table.
				def = strings.ReplaceAll(*c.ColumnDefault, table, "<table>")
			}
			out = append(out, fmt.Sprintf("column %s %s(%v) collate=%v nullable=%s default=%s",
				c.ColumnName, c.DataType, deref(c.CharacterMaximumLength), deref(c.CollationName), c.IsNullable, def))
		}
		var defs []string
		if err := db.Raw(`SELECT regexp_replace(indexdef, 'INDEX \S+ ON \S+', 'INDEX ON') FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = ?`, table).Scan(&defs).Error; err != nil {
			return nil, err
		}
		for _, def := range defs {
			out = append(out, "index "+def)
		}
	case MySQL:
		var cols []struct {
			ColumnName    string
			ColumnType    string
			CollationName *string
			IsNullable    string
			ColumnKey     string
			Extra         string
		}
		if err := db.Raw(`SELECT column_name, column_type, collation_name, is_nullable, column_key, extra
			FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`, table).Scan(&cols).Error; err != nil {
			return nil, err
		}
		for _, c := range cols {
			out = append(out, fmt.Sprintf("column %s %s collate=%v nullable=%s key=%s extra=%s",
				c.ColumnName, c.ColumnType, deref(c.CollationName), c.IsNullable, c.ColumnKey, c.Extra))
		}
		var idx []struct {
			IndexName string
			NonUnique int
			Cols      string
		}
		if err := db.Raw(`SELECT index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS cols
			FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?
			GROUP BY index_name, non_unique`, table).Scan(&idx).Error; err != nil {
			return nil, err
		}
		for _, i := range idx {
			kind := "index"
			if i.IndexName == "PRIMARY" {
				kind = "primary"
			}
			out = append(out, fmt.Sprintf("%s unique=%t (%s)", kind, i.NonUnique == 0, i.Cols))
		}
	default:
		return nil, fmt.Errorf("unknown dialect %q", d)
	}
	if d != Postgres && d != MySQL {
		idx, err := db.Migrator().GetIndexes(table)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			unique, _ := i.Unique()
			pk, _ := i.PrimaryKey()
			out = append(out, fmt.Sprintf("index unique=%t pk=%t (%s)", unique, pk, strings.Join(i.Columns(), ",")))
		}
	}
	return out, nil
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
