package envoycheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

// tlsListener checks a TLS passthrough listener.
func tlsListener(cfg xds.Config, w Want, port uint32, l *listenerv3.Listener) []error {
	var errs []error
	// Every chain must match exactly server_names [dnsName].
	for _, c := range chains(l) {
		names := c.GetFilterChainMatch().GetServerNames()
		if c.FilterChain == l.DefaultFilterChain {
			errs = append(errs, fmt.Errorf("port %d/TLS: %s would accept a TLS connection with any SNI, or none, that no other chain matches", port, c.Name))
			continue
		}
		if !slices.Equal(names, []string{w.DNSName}) {
			what := "any SNI"
			if len(names) > 0 {
				what = "SNI " + strings.Join(names, ", ")
			}
			errs = append(errs, fmt.Errorf("port %d/TLS: %s would accept %s, not only %s", port, c.Name, what, w.DNSName))
		}
	}
	good := Conn{Port: port, TLS: true, SNI: w.DNSName, ALPN: []string{"h2", "http/1.1"}}
	c, err := Select(l, good)
	switch {
	case err != nil:
		errs = append(errs, err)
	case c == nil:
		errs = append(errs, fmt.Errorf("Envoy would close %s: no filter chain of listener %s matches it", good, l.Name))
	default:
		errs = append(errs, passesThrough(cfg, w, port, good, c)...)
	}
	for _, bad := range []Conn{
		{Port: port, TLS: true, SNI: "evil.example", ALPN: []string{"h2"}},
		{Port: port, TLS: true, SNI: "www." + w.DNSName},
		{Port: port, TLS: true, SNI: w.DNSName + ".evil.example"},
		{Port: port, TLS: true},
		{Port: port},
	} {
		c, err := Select(l, bad)
		switch {
		case err != nil:
			errs = append(errs, err)
		case c != nil:
			errs = append(errs, fmt.Errorf("Envoy would accept %s with %s%s", bad, c.Name, destination(c)))
		}
	}
	return errs
}

// tcpListener checks a TCP listener: whatever arrives goes to dnsName.
func tcpListener(cfg xds.Config, w Want, port uint32, l *listenerv3.Listener) []error {
	var errs []error
	for _, c := range chains(l) {
		if ts := c.GetTransportSocket(); ts != nil && ts.GetName() != rawBuffer {
			errs = append(errs, fmt.Errorf("port %d/TCP: Envoy would terminate connections through %s with transport socket %s instead of proxying their bytes", port, c.Name, ts.GetName()))
		}
		errs = append(errs, proxiesTo(cfg, w, port, fmt.Sprintf("port %d/TCP: a connection through %s", port, c.Name), c)...)
	}
	for _, conn := range []Conn{
		{Port: port},
		{Port: port, TLS: true, SNI: w.DNSName},
		{Port: port, TLS: true, SNI: "other.example"},
		{Port: port, TLS: true},
	} {
		c, err := Select(l, conn)
		switch {
		case err != nil:
			errs = append(errs, err)
		case c == nil:
			errs = append(errs, fmt.Errorf("Envoy would close %s: no filter chain of listener %s matches it", conn, l.Name))
		}
	}
	return errs
}

// passesThrough checks the chain a good TLS connection gets: no TLS
// termination, a TCP proxy to dnsName:port.
func passesThrough(cfg xds.Config, w Want, port uint32, conn Conn, c *Chain) []error {
	var errs []error
	if ts := c.GetTransportSocket(); ts != nil && ts.GetName() != rawBuffer {
		errs = append(errs, fmt.Errorf("Envoy would terminate %s with transport socket %s of %s instead of passing it through", conn, ts.GetName(), c.Name))
	}
	return append(errs, proxiesTo(cfg, w, port, fmt.Sprintf("%s, accepted by %s,", conn, c.Name), *c)...)
}

// proxiesTo checks that a chain ends in a TCP proxy to the cluster of
// dnsName:port, and that cluster.
func proxiesTo(cfg xds.Config, w Want, port uint32, what string, c Chain) []error {
	clusters, err := tcpProxyClusters(c.FilterChain)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", what, err)}
	}
	var errs []error
	for _, name := range clusters {
		if err := upstream(cfg, w, port, name); err != nil {
			errs = append(errs, fmt.Errorf("%s would be sent to cluster %s, which %w", what, name, err))
		}
	}
	return errs
}

// tcpProxyClusters are the clusters of the chain's terminal TCP proxy.
func tcpProxyClusters(fc *listenerv3.FilterChain) ([]string, error) {
	filters := fc.GetFilters()
	if len(filters) == 0 {
		return nil, errors.New("Envoy would close it: the filter chain has no filters")
	}
	last := filters[len(filters)-1]
	tp := &tcpproxyv3.TcpProxy{}
	if !last.GetTypedConfig().MessageIs(tp) {
		return nil, fmt.Errorf("Envoy would hand it to %s (%s), not to a TCP proxy", last.GetName(), last.GetTypedConfig().GetTypeUrl())
	}
	if err := last.GetTypedConfig().UnmarshalTo(tp); err != nil {
		return nil, fmt.Errorf("decode the TCP proxy: %w", err)
	}
	if tp.GetTunnelingConfig() != nil {
		return nil, fmt.Errorf("Envoy would tunnel it over HTTP to %s instead of proxying the bytes", tp.GetTunnelingConfig().GetHostname())
	}
	if tp.GetOnDemand() != nil {
		return nil, errors.New("Envoy would discover the cluster on demand")
	}
	if name := tp.GetCluster(); name != "" {
		return []string{name}, nil
	}
	var names []string
	for _, wc := range tp.GetWeightedClusters().GetClusters() {
		names = append(names, wc.GetName())
	}
	if len(names) == 0 {
		return nil, errors.New("Envoy would close it: the TCP proxy names no cluster")
	}
	return names, nil
}

func destination(c *Chain) string {
	clusters, err := tcpProxyClusters(c.FilterChain)
	if err != nil {
		return ""
	}
	return " and send it to " + strings.Join(clusters, ", ")
}
