package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskstate/statebackend/monitor"
)

// serveTokenEnv names the environment variable read when --token is not
// given, so that the token is not in the process list.
const serveTokenEnv = "STATEBACKEND_SERVE_TOKEN"

const (
	// defaultServeAddr is loopback: the monitor authenticates no one
	// unless given credentials.
	defaultServeAddr = "127.0.0.1:8080"
	// serveReadHeaderTimeout bounds how long a client may take to send a
	// request's headers. There is no WriteTimeout: /events is long-lived.
	serveReadHeaderTimeout = 10 * time.Second
	// serveGrace is how long a stop waits for the requests in flight
	// before it closes their connections.
	serveGrace = 5 * time.Second
)

// serveFlags are the flags of the serve command as given.
type serveFlags struct {
	addr, token, user, passwordFile string
}

func (c *cli) serveCommand() *cobra.Command {
	var fl serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a read-only web monitor of the app over HTTP",
		Long: `serve serves the web monitor of the app (package monitor: an overview,
invocations, workflows, runners, a timeline, live updates) over HTTP until
interrupted (Ctrl-C, SIGTERM). It opens the database read-only, as watch
--follow does, so its pages show what other processes commit; it writes
nothing. It prints one line on stderr, the URL it serves.

It listens on --addr, loopback by default. An --addr whose host is not a
loopback address (127.0.0.0/8, ::1, localhost), ":PORT" (every interface)
included, needs credentials: --token (or $` + serveTokenEnv + `, which
keeps it out of the process list), or --user and --password-file. Browsers
then ask for a user name and password (with a token: any user name, the
token as password); scripts may send "Authorization: Bearer TOKEN". The
monitor speaks plain HTTP: put a TLS proxy in front of it where the network
is not trusted.

On SIGINT or SIGTERM it stops accepting requests, ends the live update
streams, waits up to ` + serveGrace.String() + ` for the requests in flight, and exits
130 or 143 as every command does.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			auth, err := c.serveAuth(cmd, fl)
			if err != nil {
				return err
			}
			return c.serve(cmd.Context(), fl.addr, auth)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.addr, "addr", defaultServeAddr, "host:port to listen on (port 0: any free port); a host other than loopback needs --token or --user")
	f.StringVar(&fl.token, "token", "", "require this token (default $"+serveTokenEnv+")")
	f.StringVar(&fl.user, "user", "", "require basic authentication with this user name and the password of --password-file")
	f.StringVar(&fl.passwordFile, "password-file", "", "file whose first line is the password of --user")
	return cmd
}

// serveAuth checks the address and credentials flags: it returns the
// credentials to require (nil: none), or a usage error.
func (c *cli) serveAuth(cmd *cobra.Command, fl serveFlags) (*monitor.Auth, error) {
	host, _, err := net.SplitHostPort(fl.addr)
	if err != nil {
		return nil, usageErrorf("--addr %q: give host:port, such as %s or :8080", fl.addr, defaultServeAddr)
	}
	token := fl.token
	tokenFrom := "--token"
	if !cmd.Flags().Changed("token") {
		token, tokenFrom = c.getenv(serveTokenEnv), serveTokenEnv
	}
	if cmd.Flags().Changed("token") && token == "" {
		return nil, usageErrorf("--token is empty: give a token, or leave the flag out")
	}
	userSet, fileSet := cmd.Flags().Changed("user"), cmd.Flags().Changed("password-file")
	var auth *monitor.Auth
	switch {
	case userSet != fileSet:
		return nil, usageErrorf("--user and --password-file go together: give both for basic authentication")
	case userSet && token != "":
		return nil, usageErrorf("%s and --user both set: require a token or a password, not both", tokenFrom)
	case userSet:
		if fl.user == "" || strings.Contains(fl.user, ":") {
			return nil, usageErrorf("--user %q: give a user name without a colon", fl.user)
		}
		pw, err := readPasswordFile(fl.passwordFile)
		if err != nil {
			return nil, err
		}
		c.secrets = append(c.secrets, pw)
		auth = &monitor.Auth{Username: fl.user, Password: pw}
	case token != "":
		c.secrets = append(c.secrets, token)
		auth = &monitor.Auth{Token: token}
	}
	if auth == nil && !isLoopbackHost(host) {
		shown := host
		if host == "" {
			shown = "every interface"
		}
		return nil, usageErrorf("--addr %s listens beyond loopback (%s) and the monitor authenticates no one: "+
			"give --token (or $%s) or --user and --password-file, or listen on %s",
			fl.addr, shown, serveTokenEnv, defaultServeAddr)
	}
	return auth, nil
}

// readPasswordFile returns the first line of the file at path.
func readPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", usageErrorf("--password-file: %v", err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", usageErrorf("--password-file %s: its first line is empty: write the password there", path)
	}
	return pw, nil
}

// isLoopbackHost reports whether host, of an address to listen on, is a
// loopback address or localhost; the empty host, every interface, is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve serves the monitor of the app on addr until ctx ends, behind auth
// when it is not nil.
func (c *cli) serve(ctx context.Context, addr string, auth *monitor.Auth) error {
	u, err := c.dbURL()
	if err != nil {
		return err
	}
	// readFollowing: the pages show what other processes commit.
	cn, err := c.open(ctx, u, c.appID, readFollowing)
	if err != nil {
		return err
	}
	defer cn.Close()
	h, err := monitor.New(cn.backend, monitor.Options{Database: u.shown, AppID: c.appID, Logger: c.log})
	if err != nil {
		return err
	}
	if auth != nil {
		h = monitor.Protect(h, *auth)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// base is the context of every request: cancelling it ends the live
	// update streams, which Shutdown would otherwise wait for.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.onInterrupt = func() string { return "the server stopped; it wrote nothing" }
	fmt.Fprintf(c.stderr, "statebackend: serving %s on http://%s/\n", appName(c.appID), ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	cancelBase()
	stopCtx, cancel := context.WithTimeout(context.Background(), serveGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		c.log.Warn("requests still in flight after the grace period: closing them", "err", err)
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		c.log.Debug("serve ended", "err", err)
	}
	return context.Cause(ctx)
}
