package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// sample is one measured line: a workload run once by one impl.
type sample struct {
	Workload  string  `json:"workload"`
	Dialect   string  `json:"dialect"`
	Impl      string  `json:"impl"`
	N         int     `json:"n"`
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Run       int     `json:"run"`
	// W10's lines: the level (goroutines, mode) and the latency of single
	// calls in milliseconds; Writers is 0 on other lines.
	Writers int     `json:"writers"`
	Mode    string  `json:"mode"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	// W10's CPU figures, where measured: the CPU seconds of the benchmark
	// process and of the database server, the busy fraction of the whole
	// machine's cores, and their number.
	ClientCPUs  float64  `json:"client_cpu_s"`
	ServerCPUs  *float64 `json:"server_cpu_s"`
	MachineBusy *float64 `json:"machine_busy"`
	Cores       int      `json:"cores"`
}

// coresUsed returns the cores the benchmark (process and server) kept
// busy on average during s.
func (s sample) coresUsed() float64 {
	c := s.ClientCPUs
	if s.ServerCPUs != nil {
		c += *s.ServerCPUs
	}
	return c / s.Seconds
}

// opsPerInvocation is the ops a workload counts per invocation, from which a
// line without "n" gets it.
var opsPerInvocation = map[string]int{
	"W1": 1, "W2": 4, "W3": 1, "W4": 1, "W5": 2, "W6": 4, "W7": 4, "W8": 1,
}

// readFile reads the JSON lines of the file name ("-" for stdin). Blank
// lines and lines starting with # are skipped; any other line must be a
// valid result, or the error names the file and line.
func readFile(name string, stdin io.Reader) ([]sample, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return parse(name, r)
}

// parse reads the JSON lines of r, named name in errors.
func parse(name string, r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		s, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// parseLine decodes and checks one line, normalizing the workload name and
// filling in n and ops_per_sec where they are missing.
func parseLine(text []byte) (sample, error) {
	var s sample
	dec := json.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return s, errors.New("more than one JSON value on the line")
	}
	if s.Workload, _, _ = strings.Cut(s.Workload, "_"); s.Workload == "" {
		return s, errors.New(`no "workload"`)
	}
	if s.Dialect == "" || s.Impl == "" {
		return s, errors.New(`no "dialect" or "impl"`)
	}
	if s.Ops <= 0 || s.Seconds <= 0 {
		return s, fmt.Errorf(`"ops" (%d) and "seconds" (%g) must be positive`, s.Ops, s.Seconds)
	}
	if s.OpsPerSec <= 0 {
		s.OpsPerSec = float64(s.Ops) / s.Seconds
	}
	if s.N <= 0 {
		k, ok := opsPerInvocation[s.Workload]
		if !ok || s.Ops%k != 0 {
			return s, fmt.Errorf(`no "n", and the ops of %s do not give it`, s.Workload)
		}
		s.N = s.Ops / k
	}
	if s.Writers > 0 && (s.Mode == "" || s.P99ms <= 0) {
		return s, errors.New(`a line with "writers" needs "mode" and a positive "p99_ms"`)
	}
	return s, nil
}
