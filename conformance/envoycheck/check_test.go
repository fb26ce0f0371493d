package envoycheck

import (
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

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

// gatewayCase is one configuration Gateway judges: githubWant changed by
// want, github changed by break_.
type gatewayCase struct {
	name   string
	want   func(*Want)
	break_ func(*xds.Config)
	errs   []string // substrings, each of some violation; none means it passes
}

// runGatewayCases checks each case's violations against its errs.
func runGatewayCases(t *testing.T, cases []gatewayCase) {
	t.Helper()
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

// TestGateway checks that what istiod generates passes.
func TestGateway(t *testing.T) {
	udp := egressv1.ProtocolUDP
	runGatewayCases(t, []gatewayCase{
		{name: "as istiod generates it"},
		{
			name: "a UDP port gets no listener",
			want: func(w *Want) { w.Ports = append(w.Ports, egressv1.ExternalServicePort{Port: 53, Protocol: &udp}) },
		},
	})
}
