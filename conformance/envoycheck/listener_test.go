package envoycheck

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/xds"
)

func TestGatewayListeners(t *testing.T) {
	runGatewayCases(t, slices.Concat(tlsListenerCases(), tcpListenerCases(), portCases()))
}

// tlsListenerCases break the TLS listener's filter chains.
func tlsListenerCases() []gatewayCase {
	return []gatewayCase{
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
	}
}

// tcpListenerCases break the TCP listener's filter chain.
func tcpListenerCases() []gatewayCase {
	return []gatewayCase{
		{
			name: "TLS terminated on a TCP port",
			break_: func(c *xds.Config) {
				c.Listeners["0.0.0.0_22"].FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(&tlsv3.DownstreamTlsContext{})}}
			},
			errs: []string{"port 22/TCP: Envoy would terminate connections through filter chain #0 of listener 0.0.0.0_22 with transport socket envoy.transport_sockets.tls"},
		},
	}
}

// portCases put listeners on the wrong ports, or the wrong protocol.
func portCases() []gatewayCase {
	tls := egressv1.ProtocolTLS
	return []gatewayCase{
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
			name: "TLS port served as TCP",
			want: func(w *Want) { w.Ports[1].Protocol = &tls },
			errs: []string{"port 22/TLS: filter chain #0 of listener 0.0.0.0_22 would accept any SNI, not only github.com"},
		},
	}
}
