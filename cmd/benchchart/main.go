// Command benchchart draws PNG charts from the JSON lines of cmd/statebench
// and of other measurements in the same format (objects with "workload",
// "dialect", "impl", "n", "ops", "seconds", "ops_per_sec"; a line without
// "n" gets it from "ops" for the workloads W1-W8, and a workload named like
// "W1_upsert" counts as W1):
//
//   - throughput-<dialect>-n<N>.png: ops/s per workload, one bar per impl
//     (gorm, raw, then any other, such as a Python baseline), the median
//     over runs; a logarithmic axis when the bars span more than 30 x;
//   - scaling-<dialect>-<workload>.png: microseconds per item against N,
//     log-log, one line per impl, for W3, W4, W6 and W8 where some impl was
//     measured at two or more N (W11/W3 counts as W3 at N = its n);
//   - writers-<dialect>.png: W10's throughput and p99 latency against the
//     number of writers, one line per impl and mode, and where the lines
//     carry CPU figures (client_cpu_s, server_cpu_s, machine_busy, cores)
//     the cores the benchmark kept busy next to the whole machine's.
//
// Charts with the same input are byte for byte the same. Every value is a
// median over the runs of its group.
//
// Usage:
//
//	benchchart [-out DIR] results.jsonl [more.jsonl ...]   ("-" reads stdin)
//
// It prints the path of each chart written.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

// run parses args, reads every input and writes every chart they allow.
func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchchart", flag.ContinueOnError)
	out := fs.String("out", "charts", "directory for the PNG files (created if missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no input files (usage: benchchart [-out DIR] results.jsonl ...; - for stdin)")
	}
	var samples []sample
	for _, name := range fs.Args() {
		s, err := readFile(name, stdin)
		if err != nil {
			return err
		}
		samples = append(samples, s...)
	}
	if len(samples) == 0 {
		return errors.New("no results in the input")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files, err := drawAll(*out, samples)
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return err
}

// drawAll writes every chart the samples allow into dir and returns the
// paths written, in order.
func drawAll(dir string, samples []sample) ([]string, error) {
	var files []string
	for _, draw := range []func(string, []sample) ([]string, error){drawThroughput, drawScaling, drawWriters} {
		f, err := draw(dir, samples)
		files = append(files, f...)
		if err != nil {
			return files, err
		}
	}
	if len(files) == 0 {
		return nil, errors.New("the input has nothing to chart")
	}
	return files, nil
}
