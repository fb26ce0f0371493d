package envoycheck

import (
	"fmt"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Conn is a downstream connection as a listener's filter chain match sees
// it: the port it arrived on, whether Envoy's TLS inspector found a TLS
// ClientHello, the SNI and ALPN in it.
type Conn struct {
	Port uint32
	TLS  bool
	SNI  string
	ALPN []string
}

func (c Conn) String() string {
	switch {
	case !c.TLS:
		return fmt.Sprintf("a plain TCP connection to port %d", c.Port)
	case c.SNI == "":
		return fmt.Sprintf("a TLS connection without SNI to port %d", c.Port)
	}
	return fmt.Sprintf("a TLS connection with SNI %s to port %d", c.SNI, c.Port)
}

// transportProtocol is what the TLS inspector reports.
func (c Conn) transportProtocol() string {
	if c.TLS {
		return "tls"
	}
	return "raw_buffer"
}

// Chain is a filter chain Envoy picked, named for messages.
type Chain struct {
	*listenerv3.FilterChain
	// Name is "filter chain <name or #index> of listener <name>" or
	// "the default filter chain of listener <name>".
	Name string
}

// modelled are the filter chain match fields Select evaluates.
func unmodelled(m *listenerv3.FilterChainMatch) []string {
	var out []string
	if len(m.GetPrefixRanges()) > 0 {
		out = append(out, "prefix_ranges")
	}
	if m.GetAddressSuffix() != "" || m.GetSuffixLen() != nil {
		out = append(out, "address_suffix")
	}
	if len(m.GetDirectSourcePrefixRanges()) > 0 {
		out = append(out, "direct_source_prefix_ranges")
	}
	if m.GetSourceType() != listenerv3.FilterChainMatch_ANY {
		out = append(out, "source_type")
	}
	if len(m.GetSourcePrefixRanges()) > 0 {
		out = append(out, "source_prefix_ranges")
	}
	if len(m.GetSourcePorts()) > 0 {
		out = append(out, "source_ports")
	}
	return out
}

// Select is the filter chain Envoy picks for c on l, following Envoy's
// filter chain match order (destination port, server name: exact, then
// the longest wildcard, then none; transport protocol; application
// protocols), falling back to the default filter chain. Nil means Envoy
// closes the connection. It fails for what it does not model: a
// filter_chain_matcher, or matches on addresses or source.
func Select(l *listenerv3.Listener, c Conn) (*Chain, error) {
	if l.GetFilterChainMatcher() != nil {
		return nil, fmt.Errorf("listener %s selects filter chains with a filter_chain_matcher, which this check does not evaluate (Envoy ignores every filter_chain_match then)", l.Name)
	}
	var cands []cand
	for i, fc := range l.FilterChains {
		if u := unmodelled(fc.GetFilterChainMatch()); len(u) > 0 {
			return nil, fmt.Errorf("%s matches on %s, which this check does not evaluate", chainName(l, i), strings.Join(u, ", "))
		}
		cands = append(cands, cand{i, fc})
	}
	for _, specific := range []matcher{c.matchesPort, c.matchesServerName, c.matchesTransportProtocol, c.matchesALPN} {
		cands = narrow(cands, specific)
	}
	if len(cands) > 0 {
		return &Chain{cands[0].fc, chainName(l, cands[0].i)}, nil
	}
	if l.DefaultFilterChain != nil {
		return &Chain{l.DefaultFilterChain, "the default filter chain of listener " + l.Name}, nil
	}
	return nil, nil
}

// chainName names the i-th filter chain of l.
func chainName(l *listenerv3.Listener, i int) string {
	if name := l.FilterChains[i].GetName(); name != "" {
		return fmt.Sprintf("filter chain %q of listener %s", name, l.Name)
	}
	return fmt.Sprintf("filter chain #%d of listener %s", i, l.Name)
}

// chains lists every filter chain of l, the default one last.
func chains(l *listenerv3.Listener) []Chain {
	var out []Chain
	for i, fc := range l.FilterChains {
		out = append(out, Chain{fc, chainName(l, i)})
	}
	if l.DefaultFilterChain != nil {
		out = append(out, Chain{l.DefaultFilterChain, "the default filter chain of listener " + l.Name})
	}
	return out
}

// cand is a filter chain of a listener, the i-th.
type cand struct {
	i  int
	fc *listenerv3.FilterChain
}

// matcher says whether a filter chain match constrains one field, and if
// so whether the connection matches it and how specifically.
type matcher func(*listenerv3.FilterChainMatch) (matches bool, rank int, constrains bool)

// narrow keeps the most specific matching chains; a chain that does
// not constrain a field matches any value, but only when no chain
// matches the value specifically.
func narrow(cands []cand, specific matcher) []cand {
	best, bestRank := []cand(nil), -1
	var open []cand
	for _, c := range cands {
		ok, rank, constrains := specific(c.fc.GetFilterChainMatch())
		switch {
		case !constrains:
			open = append(open, c)
		case ok && rank > bestRank:
			best, bestRank = []cand{c}, rank
		case ok && rank == bestRank:
			best = append(best, c)
		}
	}
	if len(best) > 0 {
		return best
	}
	return open
}

func (c Conn) matchesPort(m *listenerv3.FilterChainMatch) (bool, int, bool) {
	if m.GetDestinationPort() == nil {
		return false, 0, false
	}
	return m.GetDestinationPort().GetValue() == c.Port, 0, true
}

// matchesServerName ranks an exact name above every wildcard, and a
// longer wildcard above a shorter one.
func (c Conn) matchesServerName(m *listenerv3.FilterChainMatch) (bool, int, bool) {
	if len(m.GetServerNames()) == 0 {
		return false, 0, false
	}
	rank := -1
	for _, n := range m.GetServerNames() {
		n = strings.ToLower(n)
		switch {
		case c.SNI == "":
		case n == c.SNI:
			rank = max(rank, 1<<16)
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(c.SNI, n[1:]):
			rank = max(rank, len(n))
		}
	}
	return rank >= 0, rank, true
}

func (c Conn) matchesTransportProtocol(m *listenerv3.FilterChainMatch) (bool, int, bool) {
	if m.GetTransportProtocol() == "" {
		return false, 0, false
	}
	return m.GetTransportProtocol() == c.transportProtocol(), 0, true
}

func (c Conn) matchesALPN(m *listenerv3.FilterChainMatch) (bool, int, bool) {
	if len(m.GetApplicationProtocols()) == 0 {
		return false, 0, false
	}
	return slices.ContainsFunc(c.ALPN, func(p string) bool { return slices.Contains(m.GetApplicationProtocols(), p) }), 0, true
}
