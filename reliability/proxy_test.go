package reliability_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy between the backend and a database server that a
// test can make stall: it then withholds every byte the server sends,
// as a server that stopped answering (a stopped process, a lost route)
// would, while the connections stay open.
type proxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	stalled bool
	trigger []byte        // stall once the client sends this, when set
	resume  chan struct{} // closed to end a stall
	conns   []net.Conn
	wg      sync.WaitGroup
}

// startProxy starts a proxy to the server at upstream (host:port); it is
// closed when t ends.
func startProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, upstream: upstream, resume: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the address clients connect to.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Stall withholds the server's replies from now on.
func (p *proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// StallAfter withholds the server's replies once a client has sent
// pattern (the client's bytes, pattern included, still reach the server).
func (p *proxy) StallAfter(pattern []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger = pattern
}

// Resume forwards the server's replies again, withheld ones included.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
		p.resume = make(chan struct{})
	}
	p.trigger = nil
}

// gate blocks while the proxy is stalled; it returns false when the proxy
// closes.
func (p *proxy) gate(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		stalled, resume := p.stalled, p.resume
		p.mu.Unlock()
		if !stalled {
			return true
		}
		select {
		case <-resume:
		case <-done:
			return false
		}
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		done := make(chan struct{})
		var once sync.Once
		end := func() {
			once.Do(func() {
				close(done)
				client.Close()
				server.Close()
			})
		}
		p.wg.Add(2)
		go func() { // client -> server, watching for the trigger
			defer p.wg.Done()
			defer end()
			buf := make([]byte, 64<<10)
			var tail []byte
			for {
				n, err := client.Read(buf)
				if n > 0 {
					p.mu.Lock()
					if p.trigger != nil {
						window := append(tail, buf[:n]...)
						if bytes.Contains(bytes.ToUpper(window), bytes.ToUpper(p.trigger)) {
							p.stalled = true
							p.trigger = nil
						}
						tail = append([]byte(nil), window[max(0, len(window)-len(p.trigger)):]...)
					}
					p.mu.Unlock()
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // server -> client, through the gate
			defer p.wg.Done()
			defer end()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if !p.gate(done) {
						return
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// Cut closes every connection through the proxy, as a server restart
// would; new connections go through.
func (p *proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// close stops the proxy and cuts every connection through it.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
