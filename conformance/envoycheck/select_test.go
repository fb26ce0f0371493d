package envoycheck

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

func TestSelect(t *testing.T) {
	exact := &listenerv3.FilterChain{Name: "exact", FilterChainMatch: sni("api.example.com")}
	wild := &listenerv3.FilterChain{Name: "wild", FilterChainMatch: sni("*.example.com")}
	longer := &listenerv3.FilterChain{Name: "longer", FilterChainMatch: sni("*.eu.example.com")}
	anySNI := &listenerv3.FilterChain{Name: "any"}
	rawOnly := &listenerv3.FilterChain{Name: "raw", FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{"x.example.com"}, TransportProtocol: "raw_buffer"}}
	l := listener(443, exact, wild, longer, anySNI, rawOnly)
	for _, tc := range []struct {
		conn Conn
		want string
	}{
		{Conn{Port: 443, TLS: true, SNI: "api.example.com"}, "exact"},
		{Conn{Port: 443, TLS: true, SNI: "www.example.com"}, "wild"},
		{Conn{Port: 443, TLS: true, SNI: "a.eu.example.com"}, "longer"},
		{Conn{Port: 443, TLS: true, SNI: "other.test"}, "any"},
		{Conn{Port: 443, TLS: true}, "any"},
		// Envoy does not backtrack: x.example.com matches "raw" by name,
		// which then refuses TLS, and "wild" or "any" are not tried.
		{Conn{Port: 443, TLS: true, SNI: "x.example.com"}, ""},
	} {
		c, err := Select(l, tc.conn)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if c != nil {
			got = c.GetName()
		}
		if got != tc.want {
			t.Errorf("%s: chain %q, want %q", tc.conn, got, tc.want)
		}
	}
	l.FilterChainMatcher = nil
	l.FilterChains[0].FilterChainMatch.SourcePorts = []uint32{1}
	if _, err := Select(l, Conn{Port: 443}); err == nil {
		t.Error("a match on source ports was evaluated; it is not modelled")
	}
}
