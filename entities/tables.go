package entities

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm/schema"
)

// Base is the part every table name shares after the app prefix.
const Base = "state_backend"

// Table name suffixes, after Base + "_".
var suffixes = map[string]string{
	"Result":                "results",
	"Exception":             "exceptions",
	"Invocation":            "invocations",
	"RunnerContext":         "runner_contexts",
	"History":               "history",
	"Workflow":              "workflows",
	"AppInfo":               "app_info",
	"WorkflowData":          "workflow_data",
	"WorkflowSubInvocation": "workflow_sub_invocations",
	"InvocationStatus":      "invocation_status",
	"Change":                "changes",
	"Lease":                 "leases",
	"Migration":             "migrations",
}

// longestSuffix is the longest entry of suffixes, which bounds table names.
// A new table's suffix must not be longer: the prefix of a long app id is
// shortened to fit the longest name, so a longer suffix would rename every
// table of such apps.
const longestSuffix = "workflow_sub_invocations"

// safeName is what every table name must match before it reaches SQL.
var safeName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Tables names the tables of one app.
type Tables struct {
	prefix string // "" or "<sanitized app id>_<hash>__"
}

// NewTables returns the table names for appID, following pynenc: no app id
// gives the names of pynenc's SQLite state backend ("state_backend_results", ...); otherwise every
// name starts with "<sanitized app id>_<first 8 hex of sha256(app id)>__".
// Sanitizing turns characters outside [A-Za-z0-9_] into "_", prefixes a
// leading digit with "_". When maxIdentifier > 0 and the longest table name
// would exceed it, the sanitized part is shortened (the hash keeps names
// unique).
func NewTables(appID string, maxIdentifier int) (Tables, error) {
	if appID == "" {
		return Tables{}, nil
	}
	sum := sha256.Sum256([]byte(appID))
	hash := hex.EncodeToString(sum[:])[:8]
	name := Sanitize(appID)
	if maxIdentifier > 0 {
		room := maxIdentifier - len("_"+hash+"__"+Base+"_"+longestSuffix)
		if room < 1 {
			return Tables{}, fmt.Errorf("identifier limit %d too small for table names", maxIdentifier)
		}
		if len(name) > room {
			name = name[:room]
		}
	}
	prefix := name + "_" + hash + "__"
	if !safeName.MatchString(prefix) {
		return Tables{}, fmt.Errorf("app id %q gives an unsafe table prefix %q", appID, prefix)
	}
	return Tables{prefix: prefix}, nil
}

// Sanitize maps an app id to pynenc's table-name form: characters outside
// [A-Za-z0-9_] become "_", a leading digit gets a "_" in front, and the empty
// string becomes "_default".
func Sanitize(appID string) string {
	var b strings.Builder
	for _, r := range appID {
		if r < 0x80 && (r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" {
		return "_default"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// Prefix returns the app prefix, "" for the default app.
func (t Tables) Prefix() string { return t.prefix }

// Name returns the table name of the model whose Go type name is model
// ("History" gives "<prefix>state_backend_history").
func (t Tables) Name(model string) string {
	return t.prefix + Base + "_" + suffixes[model]
}

// Names returns every table name of the app: the data tables in creation
// order (DataNames), the derived tables (current statuses, changes), then
// the bookkeeping tables (the pruner's leases and the migrations table).
func (t Tables) Names() []string {
	names := append(t.DataNames(), t.names(Derived())...)
	return append(names, t.names(Bookkeeping())...)
}

// DataNames returns the names of the app's nine data tables, those of
// pynenc's state backend, in creation order: what Purge empties and what
// an export or a copy carries.
func (t Tables) DataNames() []string { return t.names(All()) }

func (t Tables) names(models []any) []string {
	out := make([]string, 0, len(models))
	for _, m := range models {
		out = append(out, t.Name(modelName(m)))
	}
	return out
}

// AppInfoSuffix ends the name of every app's app-info table.
const AppInfoSuffix = Base + "_app_info"

// IsAppInfoTable reports whether name is a safe table name ending in
// AppInfoSuffix, the tables DiscoverAppInfos reads.
func IsAppInfoTable(name string) bool {
	return safeName.MatchString(name) && strings.HasSuffix(name, AppInfoSuffix) &&
		(name == AppInfoSuffix || strings.HasSuffix(name, "__"+AppInfoSuffix))
}

func modelName(m any) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*entities.")
}

// Namer returns the GORM naming strategy of the app: its table names, and
// index names derived from them (so two apps never share an index name),
// kept within maxIdentifier bytes when it is positive.
func (t Tables) Namer(maxIdentifier int) schema.Namer {
	return namer{NamingStrategy: schema.NamingStrategy{IdentifierMaxLength: maxIdentifier}, tables: t}
}

type namer struct {
	schema.NamingStrategy
	tables Tables
}

// TableName maps a model's Go type name to the app's table name.
func (n namer) TableName(model string) string {
	if _, ok := suffixes[model]; ok {
		return n.tables.Name(model)
	}
	return n.NamingStrategy.TableName(model)
}
