package envoycheck

import (
	"fmt"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/egressgate/egressgate/conformance/xds"
)

// Summary describes, one line each, what the checks read of a gateway's
// configuration: each listener's filter chains (their match, TLS
// termination and TCP proxy cluster) and each cluster a chain names (its
// discovery type, endpoints and connection limit).
func Summary(cfg xds.Config) string {
	var b strings.Builder
	var named []string
	for _, name := range sortedKeys(cfg.Listeners) {
		l := cfg.Listeners[name]
		port, _ := xds.ListenerPort(l)
		fmt.Fprintf(&b, "listener %s (port %d)", name, port)
		if l.GetFilterChainMatcher() != nil {
			b.WriteString(", filter_chain_matcher set")
		}
		b.WriteString("\n")
		for _, c := range chains(l) {
			m := c.GetFilterChainMatch()
			fmt.Fprintf(&b, "  %s: server_names %v", strings.TrimSuffix(c.Name, " of listener "+name), m.GetServerNames())
			if m.GetTransportProtocol() != "" {
				fmt.Fprintf(&b, ", transport_protocol %s", m.GetTransportProtocol())
			}
			if ts := c.GetTransportSocket(); ts != nil {
				fmt.Fprintf(&b, ", transport socket %s", ts.GetName())
			}
			clusters, err := tcpProxyClusters(c.FilterChain)
			if err != nil {
				fmt.Fprintf(&b, " → %v\n", err)
				continue
			}
			fmt.Fprintf(&b, " → tcp_proxy %s\n", strings.Join(clusters, ", "))
			named = append(named, clusters...)
		}
	}
	slices.Sort(named)
	for _, name := range slices.Compact(named) {
		c := cfg.Clusters[name]
		if c == nil {
			fmt.Fprintf(&b, "cluster %s: not sent\n", name)
			continue
		}
		fmt.Fprintf(&b, "cluster %s: %s", name, clusterType(c))
		if c.GetType() == clusterv3.Cluster_EDS {
			svc := c.GetEdsClusterConfig().GetServiceName()
			if svc == "" {
				svc = name
			}
			fmt.Fprintf(&b, ", EDS endpoints %s", orNothing(addresses(cfg.Endpoints[svc])))
		} else {
			fmt.Fprintf(&b, ", endpoints %s", orNothing(addresses(c.GetLoadAssignment())))
		}
		if n, ok := maxConnections(c); ok {
			fmt.Fprintf(&b, ", max_connections %d", n)
		}
		b.WriteString("\n")
	}
	return b.String()
}
