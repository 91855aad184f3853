package testdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Label marks the containers this package starts, with the test binary's
// process id as its value, so that those a killed test binary left behind
// can be found: docker ps -a --filter label=io.statebackend.testdb.
const Label = "io.statebackend.testdb"

// pollInterval is how often a starting container is checked for readiness.
const pollInterval = 250 * time.Millisecond

// docker runs the docker command with args and returns what it printed on
// stdout, trimmed. Its error names the subcommand and carries what docker
// printed on stderr (which says why: "Cannot connect to the Docker
// daemon...", "No such image...").
func docker(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return "", fmt.Errorf("docker %s: %w", args[0], err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// dockerUnavailable returns why no Docker engine answers, "" when one does.
func dockerUnavailable() string {
	if _, err := exec.LookPath("docker"); err != nil {
		return "no docker command: " + err.Error()
	}
	// Generous: a Docker engine on a loaded machine answers slowly, and
	// one that does not answer skips (or fails) every test of a database.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := docker(ctx, "info", "--format", "{{.ServerVersion}}"); err != nil {
		return err.Error()
	}
	return ""
}

// imageUnavailable returns why Docker can neither find image locally nor
// pull it, "" when the image is there (pulled now if need be). A machine
// with Docker but without registry access then skips rather than fails.
func imageUnavailable(ctx context.Context, image string) string {
	if _, err := docker(ctx, "image", "inspect", "--format", "{{.Id}}", image); err == nil {
		return ""
	}
	if _, err := docker(ctx, "pull", "--quiet", image); err != nil {
		return fmt.Sprintf("image %s is not present and cannot be pulled: %v", image, err)
	}
	return ""
}

// container is a database container this package started.
type container struct {
	name string
	// stopSignals ends the watch that removes the container when the test
	// binary is interrupted.
	stopSignals func()
}

// run starts a container of image as s describes and waits until its
// database accepts a connection; it returns the container with the DSN of
// its database. On error it may return the container, for its log and
// removal.
//
// The container is not started with --rm: a server that exits while
// starting would take its log, the one explanation, with it. It is
// removed by remove instead, and by removeOnSignal when the test binary is
// interrupted.
func (s *Server) run(ctx context.Context, image string) (*container, string, error) {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	ctr := &container{name: "statebackend-test-" + s.Name + "-" + hex.EncodeToString(suffix[:])}
	args := []string{
		"run", "--detach", "--name", ctr.name,
		"--label", fmt.Sprintf("%s=%d", Label, os.Getpid()),
		// A free port of the loopback interface, the only one the tests dial.
		"--publish", "127.0.0.1::" + s.Port,
	}
	for _, e := range s.Env {
		args = append(args, "--env", e)
	}
	args = append(args, image)
	args = append(args, s.Cmd...)
	// docker run may create the container and then fail to start it: from
	// here on there may be a container to remove.
	ctr.stopSignals = removeOnSignal(ctr)
	if _, err := docker(ctx, args...); err != nil {
		if !ctr.exists() {
			ctr.stopSignals()
			return nil, "", err
		}
		return ctr, "", err
	}
	out, err := docker(ctx, "port", ctr.name, s.Port+"/tcp")
	if err != nil {
		if stopped := ctr.stopped(ctx); stopped != nil {
			return ctr, "", stopped
		}
		return ctr, "", err
	}
	// One line per address the port is published on: 127.0.0.1 only.
	addr, _, _ := strings.Cut(out, "\n")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ctr, "", fmt.Errorf("docker port %s: unexpected output %q", ctr.name, out)
	}
	dsn := s.ContainerDSN(addr)
	if err := ctr.waitReady(ctx, s.Connector, dsn); err != nil {
		return ctr, "", err
	}
	if s.Ready != nil {
		if err := s.Ready(ctx, addr); err != nil {
			return ctr, "", fmt.Errorf("preparing the container's database: %w", err)
		}
	}
	return ctr, dsn, nil
}

// waitReady connects to the container's database through connector until it
// answers, or fails when the container stops or ctx ends. Connecting is
// the test: the official images' entrypoints (and .ci/images') create the
// database on a temporary server that listens on no TCP port, so the
// first connection the published port serves is the real server's.
func (c *container) waitReady(ctx context.Context, connector func(dsn string) (driver.Connector, error), dsn string) error {
	conn, err := connector(dsn)
	if err != nil {
		return fmt.Errorf("connector: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return nil
		}
		if stopped := c.stopped(ctx); stopped != nil {
			return fmt.Errorf("%w; last attempt: %w", stopped, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the database did not answer in time (%w); last attempt: %w", ctx.Err(), err)
		case <-ticker.C:
		}
	}
}

// stopped returns an error saying the container stopped, or cannot be
// inspected, and nil while it runs (or when ctx has ended).
func (c *container) stopped(ctx context.Context) error {
	status, err := docker(ctx, "container", "inspect", "--format", "{{.State.Status}}, exit code {{.State.ExitCode}}", c.name)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("container %s: %w", c.name, err)
	case !strings.HasPrefix(status, "running,"):
		return fmt.Errorf("container %s stopped (%s) before its database answered", c.name, status)
	}
	return nil
}

// exists reports whether Docker has the container, running or not.
func (c *container) exists() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := docker(ctx, "container", "inspect", "--format", "{{.Id}}", c.name)
	return err == nil
}

// logTail returns the last n lines of the container's log, formatted to
// follow an error message, or "" when there are none.
func (c *container) logTail(n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The server writes to both streams; one pipe keeps their order.
	out, err := exec.CommandContext(ctx, "docker", "logs", "--tail", fmt.Sprint(n), c.name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("\ncontainer log unavailable: %v: %s", err, bytes.TrimSpace(out))
	}
	text := strings.TrimRight(string(out), "\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	return fmt.Sprintf("\nlast %d lines of the container log:\n\t%s", len(lines), strings.Join(lines, "\n\t"))
}

// remove stops and removes the container, with its anonymous volumes (the
// official postgres image declares one for its data).
func (c *container) remove(ctx context.Context) error {
	c.stopSignals()
	_, err := docker(ctx, "rm", "--force", "--volumes", c.name)
	return err
}

// removeOnSignal removes ctr when the test binary receives SIGINT or
// SIGTERM (go test interrupted), then lets the signal end the process as
// it would have. It returns the function that ends the watch. A test
// binary killed otherwise (SIGKILL, go test's -timeout) leaves its
// containers behind, labelled with Label.
func removeOnSignal(ctr *container) (stop func()) {
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer close(exited)
		select {
		case sig := <-sigs:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = docker(ctx, "rm", "--force", "--volumes", ctr.name)
			cancel()
			// With no other watch left, the signal's default action:
			// the process ends as it would have without this one.
			signal.Stop(sigs)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
			signal.Stop(sigs)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-exited
		})
	}
}
