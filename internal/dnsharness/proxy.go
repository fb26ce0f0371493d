package dnsharness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// TCPProxy forwards TCP connections to a target. A test points CoreDNS at
// the API server through it, so that Cut takes the API server away from
// CoreDNS at once: open watches break and every new connection is dropped
// before TLS, and Dropped counts those attempts, which shows that CoreDNS
// noticed and keeps trying. (The API server itself then stops quickly, since
// no watch is left to drain.)
type TCPProxy struct {
	target string
	l      net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	cut     bool
	dropped int
}

// StartTCPProxy listens on a free 127.0.0.1 port and forwards to target.
func StartTCPProxy(target string) (*TCPProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the proxy: %w", err)
	}
	p := &TCPProxy{target: target, l: l, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string { return p.l.Addr().String() }

func (p *TCPProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.drop(in) {
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.track(in, out)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// drop closes in and counts it when the proxy is cut.
func (p *TCPProxy) drop(in net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		return false
	}
	p.dropped++
	_ = in.Close()
	return true
}

func (p *TCPProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
}

func (p *TCPProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// Cut closes every open connection and drops every new one from now on.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Restore lets new connections through again after Cut.
func (p *TCPProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Dropped is how many connections arrived since Cut.
func (p *TCPProxy) Dropped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Close cuts and stops listening.
func (p *TCPProxy) Close() error {
	p.Cut()
	if err := p.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
