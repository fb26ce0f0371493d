package istioimport

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
)

// destinationRules returns the DestinationRules for host, most specific
// first: Istio applies only the first.
func (im *importer) destinationRules(host string) []*istionetworking.DestinationRule {
	var exact, wild []*istionetworking.DestinationRule
	for _, dr := range im.in.destinationRules {
		h := im.resolveHost(dr.Spec.Host, dr.Namespace)
		switch {
		case h == host:
			exact = append(exact, dr)
		case isWildcard(h) && hostMatches(h, host):
			wild = append(wild, dr)
		}
	}
	slices.SortStableFunc(wild, func(a, b *istionetworking.DestinationRule) int {
		return cmp.Compare(len(b.Spec.Host), len(a.Spec.Host))
	})
	return append(exact, wild...)
}

// clientTLSSetting is the TLS the sidecar or gateway used toward a host.
type clientTLSSetting struct {
	mode istioapi.ClientTLSSettings_TLSmode
	set  bool
	from ObjectRef
}

func (s clientTLSSetting) originates() bool {
	return s.set && (s.mode == istioapi.ClientTLSSettings_SIMPLE || s.mode == istioapi.ClientTLSSettings_MUTUAL)
}

// clientTLS is the TLS setting of the DestinationRule that applies to host
// at service port port: its port-level setting, else its own.
func (im *importer) clientTLS(host string, port int32) clientTLSSetting {
	rules := im.destinationRules(host)
	if len(rules) == 0 || rules[0].Spec.TrafficPolicy == nil {
		return clientTLSSetting{}
	}
	dr := rules[0]
	tp := dr.Spec.TrafficPolicy
	ref := istioRef("DestinationRule", dr)
	for _, pl := range tp.PortLevelSettings {
		if pl.Port != nil && int32(pl.Port.Number) == port && pl.Tls != nil {
			return clientTLSSetting{pl.Tls.Mode, true, ref}
		}
	}
	if tp.Tls != nil {
		return clientTLSSetting{tp.Tls.Mode, true, ref}
	}
	return clientTLSSetting{}
}

// readDestinationRules reads the rules for external hosts: their
// connection limit becomes envoyClusterMaxConnections, the rest of their
// traffic policy is reported. TLS is read per flow (see clientTLS).
func (im *importer) readDestinationRules() {
	gatewayHosts := map[string]bool{}
	for _, m := range im.meshLegs {
		gatewayHosts[m.gatewayHost] = true
	}
	for _, host := range slices.Sorted(maps.Keys(im.hosts)) {
		for i, dr := range im.destinationRules(host) {
			ref := istioRef("DestinationRule", dr)
			im.use(ref, host)
			if name := normalizeHost(dr.Spec.Host, dr.Namespace, im.opts.Operator.ClusterDomain); name != host && !isWildcard(name) {
				im.block(ref, name) // an ExternalName alias: needed while clients call it
			}
			if i > 0 {
				continue // Istio applies only the most specific one
			}
			im.readTrafficPolicy(host, dr, ref)
		}
	}
	for _, dr := range im.in.destinationRules {
		ref := istioRef("DestinationRule", dr)
		if im.uses[ref] == nil && !gatewayHosts[im.resolveHost(dr.Spec.Host, dr.Namespace)] {
			im.ignore(ref, "its host "+dr.Spec.Host+" is not an external host of the input")
		}
	}
}

// readTrafficPolicy reads the policy of the DestinationRule for host.
func (im *importer) readTrafficPolicy(host string, dr *istionetworking.DestinationRule, ref ObjectRef) {
	tp := dr.Spec.TrafficPolicy
	var unsupported []string
	if tp != nil {
		if tcp := tp.GetConnectionPool().GetTcp(); tcp.GetMaxConnections() > 0 {
			im.hosts[host].maxConnections = new(int64(tcp.MaxConnections))
		}
		unsupported = append(unsupported, policyFields(tp, "")...)
		for _, pl := range tp.PortLevelSettings {
			where := "port " + fmt.Sprint(pl.GetPort().GetNumber()) + " "
			unsupported = append(unsupported, policyFields(&istioapi.TrafficPolicy{
				LoadBalancer: pl.LoadBalancer, ConnectionPool: pl.ConnectionPool, OutlierDetection: pl.OutlierDetection,
			}, where)...)
			if pl.GetConnectionPool().GetTcp().GetMaxConnections() > 0 {
				unsupported = append(unsupported, where+"connectionPool.tcp.maxConnections (only a limit for all ports is carried)")
			}
		}
	}
	if len(dr.Spec.Subsets) > 0 {
		unsupported = append(unsupported, "subsets")
	}
	if len(unsupported) > 0 {
		im.notCarried.add(host, 0, "traffic policy", fmt.Sprintf(
			"%s sets %s; an ExternalService's gateway uses Istio's defaults for these", ref.short(), strings.Join(unsupported, ", ")), ref)
	}
}

// policyFields names the fields of a traffic policy an ExternalService
// does not carry (TLS is handled per port, maxConnections is carried).
func policyFields(tp *istioapi.TrafficPolicy, where string) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, where+name)
		}
	}
	add(tp.LoadBalancer != nil, "loadBalancer")
	add(tp.OutlierDetection != nil, "outlierDetection")
	add(tp.GetConnectionPool().GetHttp() != nil, "connectionPool.http")
	if tcp := tp.GetConnectionPool().GetTcp(); tcp != nil {
		add(tcp.ConnectTimeout != nil, "connectionPool.tcp.connectTimeout")
		add(tcp.TcpKeepalive != nil, "connectionPool.tcp.tcpKeepalive")
		add(tcp.MaxConnectionDuration != nil, "connectionPool.tcp.maxConnectionDuration")
		add(tcp.IdleTimeout != nil, "connectionPool.tcp.idleTimeout")
	}
	add(tp.Tunnel != nil, "tunnel")
	add(tp.ProxyProtocol != nil, "proxyProtocol")
	add(tp.RetryBudget != nil, "retryBudget")
	return out
}

// readGatewayServiceRules ties the DestinationRules for the egress
// gateway's own Service (the mesh legs' destination) to the hosts sent
// through it, and reports Istio mutual TLS between sidecars and gateway.
func (im *importer) readGatewayServiceRules() {
	for _, m := range im.meshLegs {
		if m.gatewayHost == "" || len(m.hosts) == 0 {
			continue
		}
		for _, dr := range im.in.destinationRules {
			if im.resolveHost(dr.Spec.Host, dr.Namespace) != m.gatewayHost {
				continue
			}
			ref := istioRef("DestinationRule", dr)
			im.use(ref, m.hosts...)
			for _, h := range m.matchHosts {
				if isWildcard(h) {
					im.block(ref, h) // still needed by the route for the wildcard
				}
			}
			if gatewayTLS(dr, m.subset, m.gatewayPort) == istioapi.ClientTLSSettings_ISTIO_MUTUAL {
				im.lose(m.hosts, []loss{meshMTLSLoss()}, ref)
			}
		}
	}
}

// gatewayTLS is the TLS mode a gateway Service's DestinationRule sets for
// subset at port: the subset's port-level or own setting, else the rule's.
func gatewayTLS(dr *istionetworking.DestinationRule, subset string, port int32) istioapi.ClientTLSSettings_TLSmode {
	policies := []*istioapi.TrafficPolicy{}
	for _, s := range dr.Spec.Subsets {
		if s.Name == subset && s.TrafficPolicy != nil {
			policies = append(policies, s.TrafficPolicy)
		}
	}
	if dr.Spec.TrafficPolicy != nil {
		policies = append(policies, dr.Spec.TrafficPolicy)
	}
	for _, tp := range policies {
		for _, pl := range tp.PortLevelSettings {
			if pl.GetPort().GetNumber() == uint32(port) && pl.Tls != nil {
				return pl.Tls.Mode
			}
		}
		if tp.Tls != nil {
			return tp.Tls.Mode
		}
	}
	return istioapi.ClientTLSSettings_DISABLE
}
