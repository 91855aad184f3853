package reliability_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// threadProxy is a TCP proxy to a MySQL or MariaDB server that learns the
// server's thread id of each connection through it from the server's
// greeting (the initial handshake packet: protocol version 10, the server
// version ending in a NUL byte, then the thread id, four bytes little
// endian), so that a test can KILL exactly the connections of its own
// pools on a server other tests share. It forwards every byte unchanged.
type threadProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	open  map[net.Conn]uint32 // client side: thread id
	conns []net.Conn          // every connection, both sides
	wg    sync.WaitGroup
}

// startThreadProxy starts a proxy to the server at upstream (host:port),
// closed when t ends.
func startThreadProxy(t *testing.T, upstream string) *threadProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &threadProxy{ln: ln, upstream: upstream, open: map[net.Conn]uint32{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the address clients connect to.
func (p *threadProxy) Addr() string { return p.ln.Addr().String() }

// threads returns the thread ids of the connections open through the
// proxy.
func (p *threadProxy) threads() []uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]uint32, 0, len(p.open))
	for _, id := range p.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (p *threadProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve forwards one connection.
func (p *threadProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()

	greeting, id, err := readGreeting(server)
	if err != nil {
		return
	}
	if _, err := client.Write(greeting); err != nil {
		return
	}
	p.mu.Lock()
	p.open[client] = id
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.open, client)
		p.mu.Unlock()
	}()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either side ending ends both.
		client.Close()
		server.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

// readGreeting reads the server's first packet and returns it whole, with
// the thread id it carries.
func readGreeting(server net.Conn) (packet []byte, id uint32, err error) {
	header := make([]byte, 4)
	if _, err := io.ReadFull(server, header); err != nil {
		return nil, 0, err
	}
	n := int(header[0]) | int(header[1])<<8 | int(header[2])<<16
	payload := make([]byte, n)
	if _, err := io.ReadFull(server, payload); err != nil {
		return nil, 0, err
	}
	if len(payload) == 0 || payload[0] != 10 {
		return nil, 0, fmt.Errorf("not a protocol 10 greeting: % x", payload[:min(len(payload), 16)])
	}
	end := bytes.IndexByte(payload[1:], 0)
	if end < 0 || 1+end+1+4 > len(payload) {
		return nil, 0, fmt.Errorf("greeting too short: % x", payload[:min(len(payload), 64)])
	}
	id = binary.LittleEndian.Uint32(payload[1+end+1:])
	return append(header, payload...), id, nil
}

func (p *threadProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
