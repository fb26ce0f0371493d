// Reading Istio Gateways: the servers a gateway leg went through, the TLS
// they did, and egress gateways no route uses.

package istioimport

import (
	"fmt"
	"slices"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
)

// istioGatewayRef resolves a VirtualService's gateway, "name" or
// "namespace/name".
func istioGatewayRef(gw, ns string) ObjectRef {
	if before, after, ok := strings.Cut(gw, "/"); ok {
		return ObjectRef{Group: istioGroup, Kind: "Gateway", Namespace: before, Name: after}
	}
	return ObjectRef{Group: istioGroup, Kind: "Gateway", Namespace: ns, Name: gw}
}

func (im *importer) istioGateway(ref ObjectRef) *istionetworking.Gateway {
	for _, g := range im.in.istioGateways {
		if istioRef("Gateway", g) == ref {
			return g
		}
	}
	return nil
}

// serverServes says whether an Istio Gateway server serves any of hosts.
func serverServes(s *istioapi.Server, hosts []string) bool {
	for _, raw := range s.Hosts {
		_, pattern := stripNamespace(strings.ToLower(raw))
		for _, h := range hosts {
			if hostMatches(pattern, h) || pattern == h {
				return true
			}
		}
	}
	return false
}

// istioGatewayPorts are the ports of the Gateway's servers for hosts.
func (im *importer) istioGatewayPorts(ref ObjectRef, hosts []string) []int32 {
	gw := im.istioGateway(ref)
	if gw == nil {
		return nil
	}
	var ports []int32
	for _, s := range gw.Spec.Servers {
		if s.Port != nil && serverServes(s, hosts) && !slices.Contains(ports, int32(s.Port.Number)) {
			ports = append(ports, int32(s.Port.Number))
		}
	}
	return ports
}

// checkIstioGatewayServers reports the TLS a Gateway's servers for hosts
// did that a passthrough gateway does not.
func (im *importer) checkIstioGatewayServers(ref ObjectRef, entry []int32, hosts []string) {
	gw := im.istioGateway(ref)
	if gw == nil {
		return
	}
	for _, s := range gw.Spec.Servers {
		if s.Port == nil || s.Tls == nil || !serverServes(s, hosts) {
			continue
		}
		if len(entry) > 0 && !slices.Contains(entry, int32(s.Port.Number)) {
			continue
		}
		switch s.Tls.Mode {
		case istioapi.ServerTLSSettings_PASSTHROUGH:
		case istioapi.ServerTLSSettings_ISTIO_MUTUAL:
			im.lose(hosts[:1], []loss{meshMTLSLoss()}, ref)
		default:
			im.lose(hosts[:1], []loss{{"TLS termination at the gateway", fmt.Sprintf(
				"the gateway's server on port %d terminated TLS (mode %s); an ExternalService's gateway passes TLS through untouched", s.Port.Number, s.Tls.Mode)}}, ref)
		}
	}
}

func meshMTLSLoss() loss {
	return loss{"mesh mTLS to the gateway", "client sidecars reached the egress gateway over Istio mutual TLS; an ExternalService's gateway admits clients by the egress.monzo.com/allowed-<name> label and NetworkPolicy instead"}
}

// readIstioGateways looks at every Istio Gateway: the ones routes use have
// their wildcard servers reported; egress gateways no route uses are tied
// to the hosts they serve; the rest are ingress gateways.
func (im *importer) readIstioGateways() {
	for _, gw := range im.in.istioGateways {
		ref := istioRef("Gateway", gw)
		used := im.uses[ref] != nil
		if !used && !isEgressSelector(gw.Spec.Selector) {
			im.ignore(ref, "no VirtualService routes through it to an external host: an ingress gateway")
			continue
		}
		for _, s := range gw.Spec.Servers {
			for _, raw := range s.Hosts {
				_, h := stripNamespace(strings.ToLower(raw))
				switch {
				case h == "*" || h == "":
				case isWildcard(h):
					im.acceptHost(h, ref)
				case im.hosts[h] != nil:
					im.use(ref, h)
				}
			}
		}
	}
}

// isEgressSelector says whether a Gateway selects Istio's egress gateway
// pods, e.g. istio: egressgateway.
func isEgressSelector(selector map[string]string) bool {
	for _, v := range selector {
		if strings.Contains(strings.ToLower(v), "egress") {
			return true
		}
	}
	return false
}
