// Package envoycheck judges the Envoy configuration istiod computes for an
// egress gateway (read by conformance/xds) against the ExternalService the
// gateway was generated from. It sits at the end of the data flow: where
// the rest of the suite checks the objects the operator writes and istiod's
// status on them, this package says what the gateway's Envoy would do with
// a connection. Every violation says what Envoy would do instead.
//
// The checks are pure functions of the decoded configuration, written
// against Envoy's documented behaviour: filter chain selection (Select), the
// TCP proxy's cluster, the cluster's discovery type, endpoints and circuit
// breakers.
package envoycheck

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/xds"
)

// istioMaxConnections is the largest connection limit Istio's
// DestinationRule carries (an int32); larger values are capped to it.
const istioMaxConnections = math.MaxInt32

// IstioDefaultMaxConnections is the connection limit Istio gives every
// cluster no DestinationRule limits: no practical limit.
const IstioDefaultMaxConnections = math.MaxUint32

// rawBuffer is the transport socket that leaves the bytes as they are.
const rawBuffer = "envoy.transport_sockets.raw_buffer"

// PassthroughCluster is the cluster Istio sends traffic for unknown
// destinations to, with the original destination address.
const PassthroughCluster = "PassthroughCluster"

// Want is what a gateway's Envoy must do for one ExternalService.
type Want struct {
	// DNSName is the only host the gateway may reach, and the only SNI its
	// TLS ports accept.
	DNSName string
	// Ports are the ExternalService's ports, protocols defaulted.
	Ports []egressv1.ExternalServicePort
	// IPOverride, when set, are the only upstream addresses.
	IPOverride []string
	// MaxConnections is the cluster's circuit breaker, when set.
	MaxConnections *int64
}

// WantFor is what the ExternalService spec asks of its gateway.
func WantFor(spec egressv1.ExternalServiceSpec) Want {
	spec = spec.WithDefaults()
	return Want{DNSName: spec.DnsName, Ports: spec.Ports, IPOverride: spec.IpOverride, MaxConnections: spec.EnvoyClusterMaxConnections}
}

// proxied are the ports a gateway listens on (TCP and TLS), by number.
func (w Want) proxied() map[uint32]egressv1.Protocol {
	out := map[uint32]egressv1.Protocol{}
	for _, p := range w.Ports {
		proto := egressv1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != egressv1.ProtocolUDP {
			out[uint32(p.Port)] = proto
		}
	}
	return out
}

// Gateway checks a gateway's configuration: a listener for each TCP and
// TLS port and no other; a TLS port accepts only SNI dnsName and passes
// it through; a TCP port proxies only to dnsName; each upstream cluster
// resolves dnsName or holds exactly the ipOverride addresses, with the
// connection limit; nothing reaches a passthrough or original-destination
// cluster. The error joins every violation.
func Gateway(cfg xds.Config, w Want) error {
	var errs []error
	proxied := w.proxied()
	byPort := map[uint32][]*listenerv3.Listener{}
	for _, name := range sortedKeys(cfg.Listeners) {
		l := cfg.Listeners[name]
		port, err := xds.ListenerPort(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("Envoy would accept connections on listener %s, which is not bound to a TCP port of the ExternalService: %w", name, err))
			continue
		}
		if _, ok := proxied[port]; !ok {
			errs = append(errs, fmt.Errorf("Envoy would listen on port %d (listener %s), which is not a TCP or TLS port of the ExternalService (%s)", port, name, portList(w.Ports)))
			continue
		}
		byPort[port] = append(byPort[port], l)
	}
	for _, port := range sortedKeys(proxied) {
		ls := byPort[port]
		if len(ls) == 0 {
			errs = append(errs, fmt.Errorf("Envoy would refuse every connection to port %d/%s: no listener on that port", port, proxied[port]))
			continue
		}
		for _, l := range ls {
			if proxied[port] == egressv1.ProtocolTLS {
				errs = append(errs, tlsListener(cfg, w, port, l)...)
			} else {
				errs = append(errs, tcpListener(cfg, w, port, l)...)
			}
		}
	}
	errs = append(errs, noPassthrough(cfg)...)
	return errors.Join(errs...)
}

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

// upstream checks that the cluster named goes to dnsName:port only. The
// error completes "... would be sent to cluster X, which ...".
func upstream(cfg xds.Config, w Want, port uint32, name string) error {
	c := cfg.Clusters[name]
	if c == nil {
		return errors.New("istiod did not send, so Envoy would close the connection")
	}
	if why := passthrough(c); why != "" {
		return errors.New(why)
	}
	if ts := c.GetTransportSocket(); ts != nil && ts.GetName() != rawBuffer {
		return fmt.Errorf("wraps the upstream connection in %s", ts.GetName())
	}
	for _, m := range c.GetTransportSocketMatches() {
		if m.GetTransportSocket().GetName() != rawBuffer {
			return fmt.Errorf("wraps upstream connections matching %v in %s", m.GetMatch(), m.GetTransportSocket().GetName())
		}
	}
	var errs []error
	if len(w.IPOverride) == 0 {
		if typ := c.GetType(); typ != clusterv3.Cluster_STRICT_DNS && typ != clusterv3.Cluster_LOGICAL_DNS {
			errs = append(errs, fmt.Errorf("is a %s cluster, not one that resolves %s (STRICT_DNS or LOGICAL_DNS)", clusterType(c), w.DNSName))
		}
		got := addresses(c.GetLoadAssignment())
		if want := []string{hostPort(w.DNSName, port)}; !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("connects to %s, not %s", orNothing(got), want[0]))
		}
	} else {
		if c.GetType() != clusterv3.Cluster_EDS {
			errs = append(errs, fmt.Errorf("is a %s cluster (connecting to %s), not an EDS cluster of the ipOverride addresses", clusterType(c), orNothing(addresses(c.GetLoadAssignment()))))
		} else {
			svc := c.GetEdsClusterConfig().GetServiceName()
			if svc == "" {
				svc = c.Name
			}
			var want []string
			for _, ip := range w.IPOverride {
				want = append(want, hostPort(ip, port))
			}
			sort.Strings(want)
			cla := cfg.Endpoints[svc]
			if cla == nil {
				errs = append(errs, fmt.Errorf("has no endpoints from EDS (%s), so Envoy would close the connection", svc))
			} else if got := addresses(cla); !slices.Equal(got, want) {
				errs = append(errs, fmt.Errorf("connects to %s (EDS %s), not exactly the ipOverride addresses %s", orNothing(got), svc, strings.Join(want, ", ")))
			}
		}
	}
	got, limited := maxConnections(c)
	switch {
	case w.MaxConnections == nil:
		if limited && got != IstioDefaultMaxConnections {
			errs = append(errs, fmt.Errorf("lets Envoy open only %d connections, though envoyClusterMaxConnections is unset (Istio's default is %d)", got, uint32(IstioDefaultMaxConnections)))
		}
	case !limited:
		errs = append(errs, fmt.Errorf("has no connection limit for the default priority, so Envoy would open up to 1024 (its default), not %d", min(*w.MaxConnections, istioMaxConnections)))
	case int64(got) != min(*w.MaxConnections, istioMaxConnections):
		errs = append(errs, fmt.Errorf("lets Envoy open %d connections, not %d (envoyClusterMaxConnections)", got, min(*w.MaxConnections, istioMaxConnections)))
	}
	return errors.Join(errs...)
}

// passthrough says why a cluster would send a connection wherever the
// client asked, or "".
func passthrough(c *clusterv3.Cluster) string {
	switch {
	case c.GetName() == PassthroughCluster:
		return "is Istio's passthrough: Envoy would connect to whatever address the client dialled"
	case c.GetType() == clusterv3.Cluster_ORIGINAL_DST:
		return "is an ORIGINAL_DST cluster: Envoy would connect to whatever address the client dialled"
	case c.GetClusterType() != nil:
		return fmt.Sprintf("is a custom cluster (%s), e.g. a dynamic forward proxy that connects wherever the client asks", c.GetClusterType().GetName())
	}
	return ""
}

// noPassthrough checks that no chain of any listener, and no route, sends
// to a passthrough or original-destination cluster.
func noPassthrough(cfg xds.Config) []error {
	var errs []error
	for _, name := range sortedKeys(cfg.Listeners) {
		for _, c := range chains(cfg.Listeners[name]) {
			clusters, err := tcpProxyClusters(c.FilterChain)
			if err != nil {
				continue // the port's own check reports it
			}
			for _, cl := range clusters {
				if why := passthroughNamed(cfg, cl); why != "" {
					errs = append(errs, fmt.Errorf("%s sends to cluster %s, which %s", c.Name, cl, why))
				}
			}
		}
	}
	for _, name := range sortedKeys(cfg.Routes) {
		for _, vh := range cfg.Routes[name].GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				for _, cl := range routeClusters(r.GetRoute()) {
					if why := passthroughNamed(cfg, cl); why != "" {
						errs = append(errs, fmt.Errorf("route configuration %s, virtual host %s sends to cluster %s, which %s", name, vh.GetName(), cl, why))
					}
				}
			}
		}
	}
	return errs
}

// passthroughNamed is passthrough for the cluster of that name.
func passthroughNamed(cfg xds.Config, name string) string {
	if c := cfg.Clusters[name]; c != nil {
		return passthrough(c)
	}
	if name == PassthroughCluster {
		return passthrough(&clusterv3.Cluster{Name: name})
	}
	return ""
}

// maxConnections is the default-priority max_connections threshold.
func maxConnections(c *clusterv3.Cluster) (uint32, bool) {
	for _, t := range c.GetCircuitBreakers().GetThresholds() {
		if t.GetPriority() == corev3.RoutingPriority_DEFAULT && t.GetMaxConnections() != nil {
			return t.GetMaxConnections().GetValue(), true
		}
	}
	return 0, false
}

// addresses are the sorted host:port of an assignment's endpoints.
func addresses(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, le := range cla.GetEndpoints() {
		for _, e := range le.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, hostPort(sa.GetAddress(), sa.GetPortValue()))
		}
	}
	sort.Strings(out)
	return out
}

func hostPort(host string, port uint32) string {
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

func clusterType(c *clusterv3.Cluster) string {
	if c.GetClusterType() != nil {
		return c.GetClusterType().GetName()
	}
	return c.GetType().String()
}

func orNothing(addrs []string) string {
	if len(addrs) == 0 {
		return "no address"
	}
	return strings.Join(addrs, ", ")
}

func destination(c *Chain) string {
	clusters, err := tcpProxyClusters(c.FilterChain)
	if err != nil {
		return ""
	}
	return " and send it to " + strings.Join(clusters, ", ")
}

func portList(ports []egressv1.ExternalServicePort) string {
	var out []string
	for _, p := range ports {
		proto := egressv1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, fmt.Sprintf("%d/%s", p.Port, proto))
	}
	return strings.Join(out, " ")
}

func sortedKeys[K int | uint32 | string, V any](m map[K]V) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
