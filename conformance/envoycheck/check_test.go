package envoycheck

import (
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/xds"
)

func anyOf(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func tcpProxy(cluster string) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{
		TypedConfig: anyOf(&tcpproxyv3.TcpProxy{StatPrefix: cluster, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}})}}
}

func listener(port uint32, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: "0.0.0.0_" + itoa(port),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		FilterChains: chains,
	}
}

func sni(names ...string) *listenerv3.FilterChainMatch {
	return &listenerv3.FilterChainMatch{ServerNames: names}
}

func dnsCluster(host string, port uint32) *clusterv3.Cluster {
	name := "outbound|" + itoa(port) + "||" + host
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{endpoint(host, port)}}}},
	}
}

func endpoint(host string, port uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}
}

func itoa(p uint32) string { return strconv.FormatUint(uint64(p), 10) }

// github is what istiod generates for samples/github.yaml, trimmed to what
// the checks read.
func github() xds.Config {
	return xds.Config{
		Listeners: map[string]*listenerv3.Listener{
			"0.0.0.0_443": listener(443, &listenerv3.FilterChain{FilterChainMatch: sni("github.com"), Filters: []*listenerv3.Filter{tcpProxy("outbound|443||github.com")}}),
			"0.0.0.0_22":  listener(22, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpProxy("outbound|22||github.com")}}),
		},
		Clusters: map[string]*clusterv3.Cluster{
			"outbound|443||github.com": dnsCluster("github.com", 443),
			"outbound|22||github.com":  dnsCluster("github.com", 22),
			"outbound|443||google.com": dnsCluster("google.com", 443),
			"BlackHoleCluster":         {Name: "BlackHoleCluster", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}},
		},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
	}
}

func githubWant() Want {
	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	return Want{DNSName: "github.com", Ports: []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}, {Port: 22, Protocol: &tcp}}}
}

func TestGateway(t *testing.T) {
	tls := egressv1.ProtocolTLS
	udp := egressv1.ProtocolUDP
	cases := []struct {
		name   string
		want   func(*Want)
		break_ func(*xds.Config)
		errs   []string // substrings, each of some violation; none means it passes
	}{
		{name: "as istiod generates it"},
		{
			name: "a UDP port gets no listener",
			want: func(w *Want) { w.Ports = append(w.Ports, egressv1.ExternalServicePort{Port: 53, Protocol: &udp}) },
		},
		{
			name:   "TLS listener without server names",
			break_: func(c *xds.Config) { c.Listeners["0.0.0.0_443"].FilterChains[0].FilterChainMatch = nil },
			errs: []string{
				"would accept any SNI, not only github.com",
				"Envoy would accept a TLS connection with SNI evil.example to port 443 with filter chain #0 of listener 0.0.0.0_443 and send it to outbound|443||github.com",
				"Envoy would accept a TLS connection without SNI to port 443",
				"Envoy would accept a plain TCP connection to port 443",
			},
		},
		{
			name: "a wildcard server name",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_443"].FilterChains[0].FilterChainMatch = sni("github.com", "*.github.com")
			},
			errs: []string{"would accept SNI github.com, *.github.com", "accept a TLS connection with SNI www.github.com"},
		},
		{
			name: "a default filter chain",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_443"].DefaultFilterChain = &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpProxy("outbound|443||github.com")}}
			},
			errs: []string{"the default filter chain of listener 0.0.0.0_443 would accept a TLS connection with any SNI", "accept a TLS connection without SNI to port 443 with the default filter chain"},
		},
		{
			name: "TLS terminated",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_443"].FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(&tlsv3.DownstreamTlsContext{})}}
			},
			errs: []string{"would terminate a TLS connection with SNI github.com to port 443 with transport socket envoy.transport_sockets.tls"},
		},
		{
			name: "TLS terminated on a TCP port",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_22"].FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(&tlsv3.DownstreamTlsContext{})}}
			},
			errs: []string{"port 22/TCP: Envoy would terminate connections through filter chain #0 of listener 0.0.0.0_22 with transport socket envoy.transport_sockets.tls"},
		},
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
			name:   "a listener for a port not in the ExternalService",
			break_: func(c *xds.Config) { c.Listeners["0.0.0.0_8080"] = listener(8080) },
			errs:   []string{"Envoy would listen on port 8080 (listener 0.0.0.0_8080), which is not a TCP or TLS port of the ExternalService (443/TLS 22/TCP)"},
		},
		{
			name:   "a port without listener",
			break_: func(c *xds.Config) { delete(c.Listeners, "0.0.0.0_22") },
			errs:   []string{"Envoy would refuse every connection to port 22/TCP: no listener on that port"},
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
		{
			name: "TLS port served as TCP",
			want: func(w *Want) { w.Ports[1].Protocol = &tls },
			errs: []string{"port 22/TLS: filter chain #0 of listener 0.0.0.0_22 would accept any SNI, not only github.com"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := github(), githubWant()
			if tc.want != nil {
				tc.want(&w)
			}
			if tc.break_ != nil {
				tc.break_(&cfg)
			}
			err := Gateway(cfg, w)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("violations for a correct configuration:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no violation")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("no violation says %q; they are:\n%v", want, err)
				}
			}
		})
	}
}

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

func TestSidecar(t *testing.T) {
	cfg := xds.Config{
		Clusters: map[string]*clusterv3.Cluster{
			"outbound|443||kubernetes.default.svc.cluster.local": {Name: "outbound|443||kubernetes.default.svc.cluster.local"},
			PassthroughCluster: {Name: PassthroughCluster, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}},
		},
		Listeners: map[string]*listenerv3.Listener{},
		Routes:    map[string]*routev3.RouteConfiguration{},
	}
	if err := Sidecar(cfg, "github.com"); err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["outbound|443||github.com"] = dnsCluster("github.com", 443)
	cfg.Routes["443"] = &routev3.RouteConfiguration{Name: "443", VirtualHosts: []*routev3.VirtualHost{{Name: "github.com:443", Domains: []string{"github.com"}}}}
	err := Sidecar(cfg, "github.com")
	for _, want := range []string{"the sidecar has cluster outbound|443||github.com for github.com", "virtual host github.com:443 for github.com"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no violation says %q: %v", want, err)
		}
	}
}
