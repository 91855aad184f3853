package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// W10 shows where its limit is: the CPU the benchmark process used, how
// busy the machine's cores were (every process counts, other users' too),
// and, with -server-cpu, the CPU the database server used, read from its
// control group.

// machineTicks is a reading of /proc/stat's first line: clock ticks spent
// busy and in all, summed over every core.
type machineTicks struct{ busy, total uint64 }

// readMachineTicks reads /proc/stat (Linux); elsewhere it fails.
func readMachineTicks() (machineTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	return parseMachineTicks(b)
}

// parseMachineTicks parses the "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal (guest time is inside user already). Idle
// and iowait are not busy.
func parseMachineTicks(stat []byte) (machineTicks, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return machineTicks{}, errors.New("/proc/stat: no cpu line")
	}
	var t machineTicks
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("/proc/stat: %w", err)
		}
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t, nil
}

// busySince returns the fraction of the machine's core time that was busy
// between prev and t, from 0 to 1.
func (t machineTicks) busySince(prev machineTicks) float64 {
	if t.total <= prev.total {
		return 0
	}
	return float64(t.busy-prev.busy) / float64(t.total-prev.total)
}

// readServerCPU reads the CPU time used so far by the control group whose
// accounting file is path: cgroup v1's cpuacct.usage (nanoseconds) or
// cgroup v2's cpu.stat (usage_usec).
func readServerCPU(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseServerCPU(b)
}

// parseServerCPU parses the content of a cpuacct.usage or cpu.stat file.
func parseServerCPU(b []byte) (time.Duration, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1:
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("-server-cpu: %w", err)
			}
			return time.Duration(ns), nil
		case len(f) == 2 && f[0] == "usage_usec":
			us, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("-server-cpu: %w", err)
			}
			return time.Duration(us) * time.Microsecond, nil
		}
	}
	return 0, errors.New("-server-cpu: neither cpuacct.usage nor cpu.stat")
}

// cpuWatch measures the three CPU figures of a W10 level.
type cpuWatch struct {
	serverPath string
	process    time.Duration
	machine    machineTicks
	server     time.Duration
}

// startCPUWatch takes the first reading; serverPath may be empty.
func startCPUWatch(serverPath string) (*cpuWatch, error) {
	w := &cpuWatch{serverPath: serverPath, process: processCPU()}
	var err error
	if w.machine, err = readMachineTicks(); err != nil {
		w.machine = machineTicks{}
	}
	if serverPath != "" {
		if w.server, err = readServerCPU(serverPath); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// cpuFigures are the CPU fields of a W10 line.
type cpuFigures struct {
	// ClientCPUs is the CPU time the benchmark process used, in seconds.
	ClientCPUs float64 `json:"client_cpu_s"`
	// ServerCPUs is the CPU time of the server's control group, in
	// seconds; absent without -server-cpu.
	ServerCPUs *float64 `json:"server_cpu_s,omitempty"`
	// MachineBusy is the fraction of all cores' time that was busy, from
	// 0 to 1 (every process on the machine counts); absent where
	// /proc/stat is missing.
	MachineBusy *float64 `json:"machine_busy,omitempty"`
	// Cores is the number of logical CPUs of the machine, which
	// MachineBusy is a fraction of.
	Cores int `json:"cores"`
}

// stop takes the second reading and returns the figures.
func (w *cpuWatch) stop() (cpuFigures, error) {
	f := cpuFigures{ClientCPUs: round((processCPU() - w.process).Seconds(), 3), Cores: runtime.NumCPU()}
	if w.machine.total > 0 {
		if m, err := readMachineTicks(); err == nil {
			busy := round(m.busySince(w.machine), 3)
			f.MachineBusy = &busy
		}
	}
	if w.serverPath != "" {
		s, err := readServerCPU(w.serverPath)
		if err != nil {
			return f, err
		}
		v := round((s - w.server).Seconds(), 3)
		f.ServerCPUs = &v
	}
	return f, nil
}
