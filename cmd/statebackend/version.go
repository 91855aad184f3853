package main

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend/migrations"
)

// modulePath is the library's module, whose version the binary reports.
const modulePath = "github.com/taskstate/statebackend"

// knownSchemaVersions lists the schema versions this build can migrate to,
// oldest first, as "N name".
func knownSchemaVersions() []string {
	var out []string
	for _, m := range migrations.All() {
		out = append(out, strconv.Itoa(m.Version)+" "+m.Name)
	}
	return out
}

func (c *cli) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the library version and the schema versions it knows",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if c.output == "json" {
				return writeJSON(c.stdout, v)
			}
			t := newTable(c.stdout)
			t.row("module", v.Module)
			t.row("version", v.Version)
			if v.Revision != "" {
				rev := v.Revision
				if v.Modified {
					rev += " (modified)"
				}
				t.row("commit", rev)
			}
			t.row("go", v.Go)
			schemas := "not reported by this build"
			if len(v.SchemaVersions) > 0 {
				schemas = strings.Join(v.SchemaVersions, ", ")
			}
			t.row("schema versions", schemas)
			return t.flush()
		},
	}
}

// versionInfo is what version prints.
type versionInfo struct {
	Module         string   `json:"module"`
	Version        string   `json:"version"`
	Revision       string   `json:"revision,omitempty"`
	Modified       bool     `json:"modified,omitempty"`
	Go             string   `json:"go"`
	SchemaVersions []string `json:"schema_versions"`
}

// buildVersion reads the library's version from the binary's build info:
// the module version go install recorded (or the version of the required
// module, when the library is a dependency of the main module), and the
// VCS stamp of a local build.
func buildVersion() versionInfo {
	v := versionInfo{Module: modulePath, Version: "unknown", Go: runtime.Version(), SchemaVersions: knownSchemaVersions()}
	if v.SchemaVersions == nil {
		v.SchemaVersions = []string{}
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Path == modulePath {
		v.Version = info.Main.Version
	}
	for _, dep := range info.Deps {
		if dep.Path == modulePath {
			v.Version = dep.Version
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}
