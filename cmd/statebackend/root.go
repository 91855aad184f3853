package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// dbEnv names the environment variable read when --db is not given.
const dbEnv = "STATEBACKEND_DB"

// cli holds what every command shares: the global flags, the output
// streams and the secrets to keep out of them.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	db       string // --db
	appID    string // --app
	output   string // --output
	logLevel string // --log-level
	// dbFrom names where db came from, for messages: "--db" or
	// STATEBACKEND_DB.
	dbFrom string

	log *slog.Logger
	// secrets are the passwords of every URL parsed so far; oneLine and the
	// logger remove them from what they print.
	secrets []string
	// onInterrupt, set by a long command, says what the interruption left
	// and what running the command again does (see interrupted).
	onInterrupt func() string
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: getenv}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if in := interruption(ctx); in != nil && err != nil {
		if c.log != nil {
			c.log.Debug("the command stopped on the signal", "err", err)
		}
		fmt.Fprintln(stderr, c.interruptLine(cmd, in))
		return in.exitCode()
	}
	if err != nil {
		if msg := err.Error(); strings.HasPrefix(msg, "unknown command ") {
			first, rest, _ := strings.Cut(msg, "\n")
			if _, suggestions, ok := strings.Cut(rest, "Did you mean this?"); ok {
				first += " (did you mean " + strings.Join(strings.Fields(suggestions), " or ") + "?)"
			}
			err = usageErrorf("%s; run 'statebackend --help' for the commands", first)
		}
		fmt.Fprintln(stderr, oneLine(err, c.secrets))
	}
	return exitCode(err)
}

// interruptLine is the one line printed when a signal stopped cmd.
func (c *cli) interruptLine(cmd *cobra.Command, in *interrupted) string {
	msg := fmt.Sprintf("interrupted by %s", signalName(in.sig))
	if cmd != nil && cmd.HasParent() {
		msg = cmd.Name() + " " + msg
	}
	if c.onInterrupt != nil {
		msg += ": " + c.onInterrupt()
	}
	return "statebackend: " + redact(strings.Join(strings.Fields(msg), " "), c.secrets...)
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "statebackend",
		Short: "Inspect, copy and maintain a pynenc state database",
		Long: `statebackend inspects, copies and maintains the state a pynenc application
keeps through github.com/taskstate/statebackend, on SQLite, Postgres or
MySQL/MariaDB.

The database comes from --db or the STATEBACKEND_DB environment variable:
  sqlite:PATH                                   a SQLite file
  postgres://user:password@host:5432/db?sslmode=disable   (or postgresql://)
  host=HOST port=5432 user=USER password=PASS dbname=DB   Postgres keyword/value
                                                (also "postgres:host=...")
  mysql://user:password@host:3306/db?param=value          MySQL or MariaDB
Passwords are never printed. A new database: migrate --create.

Durations (prune --older-than, history --from -7d, invocations --since 2d)
take s, m (minutes), h, d (days) and w (weeks), combined as 1h30m or 2w3d;
there is no month or year unit.

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (SIGINT,
Ctrl-C), 143 terminated (SIGTERM). An interrupted command stops at its next
database call and says in one line what running it again does.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return c.setup(cmd) },
	}
	f := root.PersistentFlags()
	f.StringVar(&c.db, "db", "", "database URL or Postgres keyword/value string (default $"+dbEnv+")")
	f.StringVar(&c.appID, "app", "", "app id (default: the default app, pynenc's unprefixed tables)")
	f.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&c.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%v; run '%s --help' for the flags", err, cmd.CommandPath())
	})
	root.AddCommand(
		c.versionCommand(),
		c.statusCommand(),
		c.inspectCommand(),
		c.workflowsCommand(),
		c.invocationsCommand(),
		c.historyCommand(),
		c.watchCommand(),
		c.purgeCommand(),
		c.copyCommand(),
		c.importPynencCommand(),
		c.migrateCommand(),
		c.schemaCommand(),
		c.pruneCommand(),
		c.serveCommand(),
	)
	return root
}

// setup validates the global flags and builds the logger.
func (c *cli) setup(cmd *cobra.Command) error {
	if c.output != "table" && c.output != "json" {
		return usageErrorf("--output %q: use table or json", c.output)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageErrorf("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	c.dbFrom = "--db"
	if c.db == "" && !cmd.Flags().Changed("db") {
		c.db = c.getenv(dbEnv)
		c.dbFrom = dbEnv
	}
	c.log = slog.New(&redactingHandler{
		Handler: slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}),
		secrets: func() []string { return c.secrets },
	})
	return nil
}

// parseURL parses a database URL given by flag and remembers its secrets.
func (c *cli) parseURL(flag, raw string) (dbURL, error) {
	u, err := parseDBURL(flag, raw)
	if err != nil {
		return dbURL{}, err
	}
	c.secrets = append(c.secrets, u.secrets...)
	return u, nil
}

// dbURL returns the database of --db or STATEBACKEND_DB; its errors name
// the one it came from.
func (c *cli) dbURL() (dbURL, error) {
	return c.parseURL(c.dbFrom, c.db)
}

// stderrIsTerminal reports whether progress bars should be drawn.
func (c *cli) stderrIsTerminal() bool {
	f, ok := c.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// exactArgs is cobra.ExactArgs with a usage error that names the command.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
			}
			return usageErrorf("%s takes %s; run '%s --help'", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// requireFlags fails with a usage error when a flag of names is not set.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var missing []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		for _, n := range names {
			if f.Name == n && !f.Changed {
				missing = append(missing, "--"+n)
			}
		}
	})
	if len(missing) > 0 {
		return usageErrorf("%s needs %s; run '%s --help'", cmd.CommandPath(), strings.Join(missing, " and "), cmd.CommandPath())
	}
	return nil
}

// redactingHandler removes secrets from every log record: the library logs
// no connection string, but drivers' errors may quote one.
type redactingHandler struct {
	slog.Handler
	secrets func() []string
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, redact(r.Message, h.secrets()...), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(slog.String(a.Key, redact(a.Value.String(), h.secrets()...)))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = slog.String(a.Key, redact(a.Value.String(), h.secrets()...))
	}
	return &redactingHandler{Handler: h.Handler.WithAttrs(clean), secrets: h.secrets}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{Handler: h.Handler.WithGroup(name), secrets: h.secrets}
}
