// Command statebench measures the state backend on the workloads W1-W12,
// through the library (-impl gorm) and through hand-written database/sql on
// the same schema (-impl raw).
//
// Each (run, impl, workload) prints one JSON object on stdout:
//
//	{"workload":"W2","dialect":"sqlite","impl":"gorm","n":20000,"ops":80000,"seconds":4.1,"ops_per_sec":19500,"run":1,"cpu_seconds":4.6}
//
// seconds is the wall time of the timed part, cpu_seconds the CPU time the
// process used meanwhile (all its threads, the garbage collector included).
//
// Progress and errors go to stderr. With no flags it runs W1-W8 for both
// impls on a temporary SQLite file (under $TMPDIR), removed at exit.
// Each impl of each run gets a fresh database (SQLite) or a fresh app id
// (servers, whose tables are dropped at the end); W7 gets one of its own so
// it writes into an empty history as W2 does. The impls take turns
// workload by workload, so both are measured under the same conditions.
//
// W3 reads W1's invocations; W4, W6 and W8 read W2's history. When the
// workload that writes the data is not selected, the data is loaded first,
// untimed and unreported (invocations by the impl's W1, history by a bulk
// insert). On servers the written tables are then analyzed (untimed), as
// autovacuum or InnoDB would soon do in production; see env.analyze.
//
// W10 to W14 run only when named in -workloads; each prints several
// lines and works in environments of its own:
//
//   - W10, many writers: for each level of -writers, that many goroutines
//     each add one history record per call and upsert 20 new invocations
//     every 80 calls, for -w10-duration (or about -w10-ops calls in all), once
//     with one backend shared by all goroutines (mode "shared") and once
//     with a backend per goroutine on the same database (mode
//     "per-goroutine"). One line per (mode, level), with the extra fields
//     "writers", "mode", "p50_ms", "p99_ms" (latency of single calls) and
//     "errors", and the CPU they took: "client_cpu_s" (this process),
//     "machine_busy" (the fraction of all cores' time busy, every process
//     on the machine counted), and with -server-cpu FILE "server_cpu_s"
//     (the server's control group, e.g. a Docker container's
//     /sys/fs/cgroup/cpuacct/docker/<id>/cpuacct.usage); "ops" counts
//     calls of both kinds, "n" the invocations written. Any failed call fails the workload (after its line is
//     printed). Both impls run it; raw on SQLite with -raw-serialize
//     serializes only the writes of one store, so per-goroutine raw writers
//     contend in SQLite's busy handler.
//   - W11, large tables: -w11-n invocations with 4 history records each,
//     loaded untimed (invocations through the impl, history by bulk insert),
//     then W3, W4, W8 and W6 on them, printed as "W11/W3", "W11/W4",
//     "W11/W6", "W11/W8" with "n" = -w11-n. The W11/W6 line also has
//     "rss_growth_mib": how far the process's resident set grew above its
//     size at the start of the iteration (the history iterators stream, so
//     it stays small). -w11-base-n M adds tables of M invocations and runs
//     each workload on the two sizes one right after the other (lines of
//     the smaller size first), so that the ratio of the two sizes is
//     measured under the same load of a shared machine.
//   - W12, browsing: -w12-n invocations (4 history records each, 5 % failed,
//     2 % left running, 20 tasks, 8 workflows, spread over the last day)
//     loaded untimed through the library (UpsertInvocations and
//     ImportHistory in large batches, 4 loaders at once), then the
//     state.Browser queries a monitor makes, each called -w12-reps times:
//     first pages of 50 with no filter, status failed, one task, the task
//     and failed, changed in the last hour; a walk of 20 pages; counts per
//     status and per task and status; running for over an hour. One line
//     per query, "W12/<query>", with "p50_ms", "p99_ms", "samples" (= ops)
//     and "rows" (of the last call). Only the library (-impl gorm) lists.
//   - W13, following changes: -w13-writers goroutines add history records
//     at -w13-rate per second in all for -w13-duration while a watch
//     follows them (poll interval -w13-poll); the latency from each call's
//     return to the change's delivery. One line per mode, "W13/poll" and,
//     on Postgres, "W13/notify" (LISTEN), with "p50_ms", "p90_ms",
//     "p99_ms", "max_ms", "rate", "writers", "poll_ms". -impl gorm only.
//   - W14, the web monitor: the W12 dataset (-w12-n), then each page of
//     the monitor (overview, listings, an invocation, a workflow run,
//     runners, the timeline) requested -w12-reps times through its
//     handler. One line per page, "W14/<page>", with "p50_ms", "p99_ms",
//     "samples" and "bytes". -impl gorm only.
//
// Usage:
//
//	statebench [-dialect sqlite|postgres|mysql] [-dsn DSN] [-n 20000]
//	           [-workloads W1,W2,...] [-impl gorm,raw,...|both|telemetry]
//	           [-runs 1] [-writers 1,8,32,64] [-w10-duration 10s] [-w10-ops 0]
//	           [-server-cpu FILE] [-max-conns 0]
//	           [-w11-n 500000] [-w11-base-n 0] [-w12-n 1000000] [-w12-reps 30]
//	           [-cpuprofile PREFIX] [-keep]
//
// -impl telemetry measures the library's OpenTelemetry instrumentation:
// gorm-off (opened WithoutTelemetry), gorm (the default, no-op providers)
// and gorm-sdk (recording into an in-memory SDK) take turns as above.
//
// The DSN of postgres and mysql defaults to $STATEBACKEND_BENCH_POSTGRES_DSN
// or $STATEBACKEND_BENCH_MYSQL_DSN.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	dialect    string
	dsn        string
	n          int
	workloads  []workload
	impls      []string
	runs       int
	cpuprofile string
	// rawSerialize makes the raw impl serialize its SQLite writes with a
	// mutex, as the library does, instead of letting SQLite's busy handler
	// arbitrate.
	rawSerialize bool
	// keep leaves the databases in place for inspection.
	keep bool
	sql  *sqlDialect

	// W10: goroutine counts, and how long each level runs or how many
	// calls it makes in all (when w10Ops > 0).
	writers     []int
	w10Duration time.Duration
	w10Ops      int
	// serverCPU is the CPU accounting file of the database server's
	// control group, read before and after each W10 level ("" for none).
	serverCPU string
	// maxConns, when positive, is the connection pool size of every store
	// (the library's WithPool, raw's SetMaxOpenConns) instead of the
	// dialect's default.
	maxConns int
	// w11N is the number of invocations of W11's large tables.
	w11N int
	// w11BaseN, when positive, adds W11 tables of that many invocations,
	// measured alternately with the large ones.
	w11BaseN int
	// pruneBatch is W9's PruneOptions.BatchSize (0: the default).
	pruneBatch int
	// w12N is the number of invocations W12 loads, w12Reps the calls of
	// each of its queries.
	w12N, w12Reps int
	// W13: writers, their rate in all (calls per second), how long they
	// write, and the watch's poll interval.
	w13Writers  int
	w13Rate     float64
	w13Duration time.Duration
	w13Poll     time.Duration
}

// result is one line of output.
type result struct {
	Workload  string  `json:"workload"`
	Dialect   string  `json:"dialect"`
	Impl      string  `json:"impl"`
	N         int     `json:"n"`
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Run       int     `json:"run"`
	// CPUSeconds is the CPU time the process used during the timed part.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Extra holds a workload's other numbers (W9: writer latencies).
	Extra map[string]float64 `json:"extra,omitempty"`
}

func main() {
	registerSQLiteDriver()
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "statebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		logf("%v", err)
		stop()
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("statebench", flag.ContinueOnError)
	cfg := &config{}
	var names, impl, levels string
	fs.StringVar(&cfg.dialect, "dialect", "sqlite", "database: sqlite, postgres or mysql")
	fs.StringVar(&cfg.dsn, "dsn", "", "DSN for postgres or mysql (default $STATEBACKEND_BENCH_POSTGRES_DSN or $STATEBACKEND_BENCH_MYSQL_DSN)")
	fs.IntVar(&cfg.n, "n", 20000, "number of invocations")
	fs.StringVar(&names, "workloads", "", "comma-separated workloads, e.g. W1,W3 (default all)")
	fs.StringVar(&impl, "impl", "both", "implementations, comma-separated: gorm, raw, gorm-off (no telemetry), gorm-sdk (telemetry into an in-memory SDK); both = gorm,raw; telemetry = gorm-off,gorm,gorm-sdk")
	fs.IntVar(&cfg.runs, "runs", 1, "number of runs")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of each timed workload to PREFIX.<workload>.<impl>.<run>.pprof")
	fs.BoolVar(&cfg.rawSerialize, "raw-serialize", true, "raw impl on SQLite: serialize writes with a mutex as the library does (false: 8 writers contend in SQLite)")
	fs.IntVar(&cfg.pruneBatch, "prune-batch", 0, "W9: invocations per prune batch (0: the library's default, 1000)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the databases (SQLite files, server tables) for inspection and log where they are")
	fs.StringVar(&levels, "writers", "1,8,32,64", "W10: comma-separated numbers of writer goroutines")
	fs.DurationVar(&cfg.w10Duration, "w10-duration", 10*time.Second, "W10: how long each (mode, writers) level runs")
	fs.IntVar(&cfg.w10Ops, "w10-ops", 0, "W10: calls per (mode, writers) level in all, rounded up to a multiple of the writers, instead of -w10-duration (0: use the duration)")
	fs.StringVar(&cfg.serverCPU, "server-cpu", "", "W10: the server's cgroup CPU accounting file (cgroup v1 cpuacct.usage or v2 cpu.stat), to report its CPU seconds per level")
	fs.IntVar(&cfg.maxConns, "max-conns", 0, "connection pool size of every store, library and raw (0: the dialect's default, 16 on servers, 8 on SQLite)")
	fs.IntVar(&cfg.w11N, "w11-n", 500000, "W11: invocations of the large tables (4 history records each)")
	fs.IntVar(&cfg.w11BaseN, "w11-base-n", 0, "W11: also load tables of this many invocations and run each workload on both sizes one after the other (0: only -w11-n)")
	fs.IntVar(&cfg.w12N, "w12-n", 1000000, "W12: invocations loaded (4 history records each) before the browsing queries")
	fs.IntVar(&cfg.w13Writers, "w13-writers", 4, "W13: writer goroutines")
	fs.Float64Var(&cfg.w13Rate, "w13-rate", 1000, "W13: history records written per second in all")
	fs.DurationVar(&cfg.w13Duration, "w13-duration", 10*time.Second, "W13: how long the writers write")
	fs.DurationVar(&cfg.w13Poll, "w13-poll", 100*time.Millisecond, "W13: the watch's poll interval")
	fs.IntVar(&cfg.w12Reps, "w12-reps", 30, "W12: calls of each query (fewer when a query's calls take over 30 s in all; at least 5)")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var ok bool
	if cfg.sql, ok = sqlDialects[cfg.dialect]; !ok {
		return nil, fmt.Errorf("unknown -dialect %q (sqlite, postgres, mysql)", cfg.dialect)
	}
	if cfg.dsn == "" && cfg.dialect != "sqlite" {
		cfg.dsn = os.Getenv("STATEBACKEND_BENCH_" + strings.ToUpper(cfg.dialect) + "_DSN")
		if cfg.dsn == "" {
			return nil, fmt.Errorf("-dialect %s needs -dsn or $STATEBACKEND_BENCH_%s_DSN", cfg.dialect, strings.ToUpper(cfg.dialect))
		}
	}
	if cfg.n < writers {
		return nil, fmt.Errorf("-n must be at least %d", writers)
	}
	if cfg.runs < 1 {
		return nil, errors.New("-runs must be at least 1")
	}
	if cfg.writers, err = parseLevels(levels); err != nil {
		return nil, err
	}
	if cfg.w10Duration <= 0 && cfg.w10Ops <= 0 {
		return nil, errors.New("-w10-duration or -w10-ops must be positive")
	}
	if cfg.w10Ops < 0 {
		return nil, errors.New("-w10-ops must not be negative")
	}
	if cfg.w11N < 1 {
		return nil, errors.New("-w11-n must be at least 1")
	}
	if cfg.w12N < 1 {
		return nil, errors.New("-w12-n must be at least 1")
	}
	if cfg.w13Writers < 1 || cfg.w13Rate <= 0 || cfg.w13Duration <= 0 || cfg.w13Poll < time.Millisecond {
		return nil, errors.New("-w13-writers, -w13-rate and -w13-duration must be positive, -w13-poll at least 1ms")
	}
	if cfg.w12Reps < 1 {
		return nil, errors.New("-w12-reps must be at least 1")
	}
	if cfg.maxConns < 0 {
		return nil, errors.New("-max-conns must not be negative")
	}
	if cfg.w11BaseN < 0 {
		return nil, errors.New("-w11-base-n must not be negative")
	}
	if cfg.impls, err = parseImpls(impl); err != nil {
		return nil, err
	}
	if names == "" {
		// W9 loads a dataset of its own and needs -impl gorm: it runs
		// when named.
		cfg.workloads = slices.DeleteFunc(slices.Clone(workloads), func(w workload) bool { return w.name == "W9" })
		return cfg, nil
	}
	want := strings.Split(strings.ToUpper(strings.ReplaceAll(names, " ", "")), ",")
	all := slices.Concat(workloads, namedOnly)
	for _, name := range want {
		if !slices.ContainsFunc(all, func(w workload) bool { return w.name == name }) {
			return nil, fmt.Errorf("unknown workload %q (W1 to W14)", name)
		}
	}
	for _, w := range all {
		if slices.Contains(want, w.name) {
			cfg.workloads = append(cfg.workloads, w)
		}
	}
	return cfg, nil
}

// parseLevels parses the -writers list: positive numbers, in the order given.
func parseLevels(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(strings.ReplaceAll(list, " ", ""), ",") {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-writers: %q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// run runs the selected workloads runs times. Within a run each impl has
// its own fresh environment, and the impls take turns workload by workload
// (gorm W1, raw W1, gorm W2, ...; the other impl first in even runs), so
// their times for one workload are taken moments apart and drift or bursts
// of load on the machine hit both alike.
func run(ctx context.Context, cfg *config) error {
	data := newDataset(cfg.n)
	out := json.NewEncoder(os.Stdout)
	for r := 1; r <= cfg.runs; r++ {
		impls := slices.Clone(cfg.impls)
		if r%2 == 0 {
			slices.Reverse(impls)
		}
		if err := runOnce(ctx, cfg, data, impls, r, out); err != nil {
			return fmt.Errorf("run %d: %w", r, err)
		}
	}
	return nil
}

// runOnce is run number r of the selected workloads for impls.
func runOnce(ctx context.Context, cfg *config, data *dataset, impls []string, r int, out *json.Encoder) error {
	var benches []*bench
	defer func() {
		for _, b := range benches {
			_ = b.st.Close()
			b.env.close(ctx)
		}
	}()
	for _, impl := range impls {
		e, err := newEnv(ctx, cfg)
		if err != nil {
			return err
		}
		if r == 1 && len(benches) == 0 {
			logf("%s: %s, n=%d", cfg.dialect, e.serverVersion(ctx), cfg.n)
		}
		st, err := openStore(ctx, e, impl)
		if err != nil {
			e.close(ctx)
			return fmt.Errorf("%s: %w", impl, err)
		}
		benches = append(benches, &bench{cfg: cfg, data: data, impl: impl, env: e, st: st})
	}
	for _, w := range cfg.workloads {
		for _, b := range benches {
			lines, err := b.measure(ctx, w, r)
			// A failing workload may still have lines to show (W10 prints
			// its error counts).
			for _, l := range lines {
				if err := out.Encode(l); err != nil {
					return err
				}
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", b.impl, w.name, err)
			}
		}
	}
	return nil
}

// measure runs workload w of run r, after loading the data it reads, and
// returns its lines of output: one, or several for W10 and W11.
func (b *bench) measure(ctx context.Context, w workload, r int) ([]any, error) {
	if w.report != nil {
		return w.report(ctx, b, r)
	}
	if err := b.ensure(ctx, w); err != nil {
		return nil, err
	}
	res, err := b.timed(ctx, w.name, w.run, r)
	if err != nil {
		return nil, err
	}
	return []any{res}, nil
}

// timed runs fn, the timed part of a workload printed as name, and returns
// its line.
func (b *bench) timed(ctx context.Context, name string, fn func(context.Context, *bench, *timer) (int, error), r int) (result, error) {
	t := &timer{}
	if b.cfg.cpuprofile != "" {
		t.profile = fmt.Sprintf("%s.%s.%s.%d.pprof", b.cfg.cpuprofile, strings.ReplaceAll(name, "/", "-"), b.impl, r)
	}
	b.extra = nil
	ops, err := fn(ctx, b, t)
	if err != nil {
		return result{}, err
	}
	if n := retryCount(b.st); n > 0 {
		logf("%s %s: %d SQLITE_BUSY retries so far", b.impl, name, n)
	}
	secs := t.elapsed.Seconds()
	return result{
		Workload: name, Dialect: b.cfg.dialect, Impl: b.impl, N: b.data.n, Ops: ops,
		Seconds: round(secs, 4), OpsPerSec: round(float64(ops)/secs, 1), Run: r,
		CPUSeconds: round(t.cpu.Seconds(), 4), Extra: b.extra,
	}, nil
}

func round(v float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "statebench: "+format+"\n", args...)
}
