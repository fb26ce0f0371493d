package envoycheck

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/egressgate/egressgate/conformance/xds"
)

func TestGatewayClusters(t *testing.T) {
	runGatewayCases(t, slices.Concat(upstreamCases(), connectionLimitCases()))
}

// upstreamCases send connections elsewhere than dnsName:port or the
// ipOverride addresses.
func upstreamCases() []gatewayCase {
	return []gatewayCase{
		{
			name: "TCP port proxied to another host",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_22"].FilterChains[0].Filters = []*listenerv3.Filter{tcpProxy("outbound|443||google.com")}
			},
			errs: []string{"port 22/TCP: a connection through filter chain #0 of listener 0.0.0.0_22 would be sent to cluster outbound|443||google.com, which connects to google.com:443, not github.com:22"},
		},
		{
			name: "TCP port to the passthrough cluster",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_22"].FilterChains[0].Filters = []*listenerv3.Filter{tcpProxy(PassthroughCluster)}
				c.Clusters[PassthroughCluster] = &clusterv3.Cluster{Name: PassthroughCluster, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}}
			},
			errs: []string{"which is Istio's passthrough: Envoy would connect to whatever address the client dialled"},
		},
		{
			name:   "the cluster is missing",
			break_: func(c *xds.Config) { delete(c.Clusters, "outbound|22||github.com") },
			errs:   []string{"would be sent to cluster outbound|22||github.com, which istiod did not send"},
		},
		{
			name: "ipOverride ignored",
			want: func(w *Want) { w.IPOverride = []string{"203.0.113.10"} },
			errs: []string{"is a STRICT_DNS cluster (connecting to github.com:443), not an EDS cluster of the ipOverride addresses"},
		},
		{
			name: "ipOverride endpoints",
			want: func(w *Want) { w.IPOverride = []string{"203.0.113.10", "203.0.113.11"} },
			break_: func(c *xds.Config) {
				for _, port := range []uint32{22, 443} {
					name := "outbound|" + itoa(port) + "||github.com"
					c.Clusters[name] = &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
						EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: name}}
					c.Endpoints[name] = &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
						LbEndpoints: []*endpointv3.LbEndpoint{endpoint("203.0.113.10", port)}}}}
				}
			},
			errs: []string{"connects to 203.0.113.10:22 (EDS outbound|22||github.com), not exactly the ipOverride addresses 203.0.113.10:22, 203.0.113.11:22"},
		},
	}
}

// connectionLimitCases get the clusters' circuit breakers wrong, or right.
func connectionLimitCases() []gatewayCase {
	return []gatewayCase{
		{
			name: "max connections missing",
			want: func(w *Want) { w.MaxConnections = new(int64(64)) },
			errs: []string{"has no connection limit for the default priority, so Envoy would open up to 1024 (its default), not 64"},
		},
		{
			name: "max connections capped at Istio's limit",
			want: func(w *Want) { w.MaxConnections = new(int64(4294967295)) },
			break_: func(c *xds.Config) {
				for _, cl := range c.Clusters {
					cl.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(2147483647)}}}
				}
			},
		},
		{
			name: "max connections wrong",
			want: func(w *Want) { w.MaxConnections = new(int64(64)) },
			break_: func(c *xds.Config) {
				for _, cl := range c.Clusters {
					cl.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(4294967295)}}}
				}
			},
			errs: []string{"lets Envoy open 4294967295 connections, not 64"},
		},
		{
			name: "a connection limit left after envoyClusterMaxConnections is unset",
			break_: func(c *xds.Config) {
				c.Clusters["outbound|22||github.com"].CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(64)}}}
			},
			errs: []string{"lets Envoy open only 64 connections, though envoyClusterMaxConnections is unset"},
		},
	}
}
