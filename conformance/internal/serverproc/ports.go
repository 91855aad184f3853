package serverproc

import (
	"fmt"
	"net"
	"strings"
)

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago. Another process may take one before the server binds it;
// the kernel hands out recently freed ports last, which makes that rare,
// and StartOnFreePorts starts again on new ports when it happens.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	// Hold every listener until all are chosen, so the ports are distinct.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portAttempts bounds how often StartOnFreePorts starts servers.
const portAttempts = 3

// StartOnFreePorts calls start, which starts servers on ports from
// FreePorts and leaves nothing behind when it fails, until it succeeds or
// fails for another reason than a port taken meanwhile (the log a server
// wrote says "Address already in use", and its end is in start's error),
// at most three times.
func StartOnFreePorts[T any](start func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := start()
		if err == nil || attempt == portAttempts || !strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return v, err
		}
	}
}
