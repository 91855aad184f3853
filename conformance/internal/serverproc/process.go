// Package serverproc runs the database servers of the test fixtures that
// start real servers from a machine's packages (pgreplicatest,
// galeratest): each server in its own process group, as a chosen OS
// account, its output in a log file whose last lines go into every error,
// and killed when the test binary dies without stopping it.
package serverproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Command describes a server, or a one-shot tool, to run.
type Command struct {
	Name string   // for messages: "primary", "node 2"
	Path string   // the executable
	Args []string // its arguments
	Env  []string // added to the test binary's environment
	Log  string   // receives stdout and stderr, appended to; created if need be
	As   *Account // the OS account to run as; nil runs as the test binary's

	// DeathSignal is what the process gets when the test binary dies without
	// stopping it (a panic, a -timeout, a kill): SIGKILL when zero. The
	// kernel sends it when the thread that started the process exits; Go
	// ends threads only for goroutines that lock one and exit, which neither
	// the fixtures nor the testing package do.
	DeathSignal syscall.Signal
}

// command builds the exec.Cmd and opens the log it writes to. The caller
// closes the log once the process has exited.
func (c Command) command() (*exec.Cmd, *os.File, error) {
	log, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: open log: %w", c.Name, err)
	}
	sig := c.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	// The log's directory, which the account can enter; the test binary's
	// working directory may be closed to it.
	cmd.Dir = filepath.Dir(c.Log)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so that stopping it also stops what it started
		// (Postgres' backends, Galera's state-transfer scripts).
		Setpgid:    true,
		Pdeathsig:  sig,
		Credential: c.As.credential(),
	}
	return cmd, log, nil
}

// Process is a server started by Start. Its methods are safe for concurrent
// use.
type Process struct {
	Command
	pid  int
	done chan struct{}
	err  error // how it exited; set before done is closed
}

// Start starts the server c describes and returns at once; the caller
// waits for readiness (see Wait).
func Start(c Command) (*Process, error) {
	cmd, log, err := c.command()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: start %s: %w", c.Name, c.Path, err)
	}
	p := &Process{Command: c, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr returns how the process exited (nil for status 0) once Done is
// closed, and nil before.
func (p *Process) ExitErr() error {
	select {
	case <-p.done:
		return exitError(p.err)
	default:
		return nil
	}
}

// Stop sends sig to the process (the server's own shutdown signal: SIGINT
// for a fast Postgres shutdown, SIGTERM for MariaDB), waits up to timeout
// for it to exit, then kills its whole group. It returns once the process
// has exited; the error says when it had to be killed.
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
		p.killGroup()
		return nil
	default:
	}
	_ = syscall.Kill(p.pid, sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		// Whatever it started and left behind.
		p.killGroup()
		return nil
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("%s: did not stop within %v of %v; killed%s", p.Name, timeout, sig, p.Tail(20))
	}
}

// Kill kills the process and its whole group, and returns once the process
// has exited.
func (p *Process) Kill() {
	p.killGroup()
	<-p.done
}

// killGroup sends SIGKILL to the process group. Once the leader has exited
// and been reaped, its id stays reserved while members of its group live;
// with none left the signal finds no one.
func (p *Process) killGroup() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// Tail returns the last n lines of the process's log, formatted to follow
// an error message.
func (p *Process) Tail(n int) string { return LogTail(p.Log, n) }

// Run runs the one-shot tool c to completion and returns an error, with
// the end of its log, when it fails or ctx ends first (its group is then
// killed).
func Run(ctx context.Context, c Command) error {
	p, err := Start(c)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("%s: %s: %w%s", c.Name, c.Path, ctx.Err(), p.Tail(40))
	}
	if err := exitError(p.err); err != nil {
		return fmt.Errorf("%s: %s: %w%s", c.Name, c.Path, err, p.Tail(40))
	}
	return nil
}

// exitError turns Wait's error into a message that names a signal.
func exitError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("killed by %v", ws.Signal())
		}
	}
	return err
}
