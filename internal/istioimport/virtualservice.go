// Reading Istio VirtualServices: each rule's destinations become mesh legs
// (sidecars to an egress gateway), gateway legs (gateway on to the host)
// or direct legs (sidecars straight to the host), which join ties
// together.

package istioimport

import (
	"fmt"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
)

// readVirtualServices reads the rules that send sidecars' traffic to an
// egress gateway (mesh legs), that send it from the gateway on to the host
// (gateway legs), and that send it straight to the host (direct legs).
func (im *importer) readVirtualServices() {
	for _, vs := range im.in.virtualServices {
		ref := istioRef("VirtualService", vs)
		vsGateways := vs.Spec.Gateways
		if len(vsGateways) == 0 {
			vsGateways = []string{"mesh"}
		}
		for _, rule := range vsRules(&vs.Spec) {
			// concerned are the external hosts this rule is about, which
			// its losses are reported for; matched are the hosts it
			// matched, for a rule that only matched wildcards.
			var concerned, matched []string
			matches := rule.matches
			if len(matches) == 0 {
				matches = []vsMatch{{}}
			}
			for _, m := range matches {
				bound := m.gateways
				if len(bound) == 0 {
					bound = vsGateways
				}
				matchHosts := im.matchHosts(cmpSlices(m.sniHosts, vs.Spec.Hosts), vs.Namespace, ref)
				matched = append(matched, matchHosts...)
				for _, gw := range bound {
					for _, d := range rule.destinations {
						concerned = append(concerned, im.readVSDestination(vs, ref, rule.protocol, m, gw, matchHosts, d)...)
					}
				}
			}
			im.lose(uniqueSorted(cmpSlices(concerned, matched)), rule.losses, ref)
		}
	}
}

// readVSDestination reads one destination of a rule as bound to gateway gw
// ("mesh" for sidecars) and returns the external hosts it concerns.
func (im *importer) readVSDestination(vs *istionetworking.VirtualService, ref ObjectRef, proto protocol, m vsMatch, gw string, matchHosts []string, d *istioapi.Destination) []string {
	if d == nil {
		return nil
	}
	dest := im.resolveHost(d.Host, vs.Namespace)
	var destPort int32
	if d.Port != nil {
		destPort = int32(d.Port.Number)
	}
	external := im.isExternal(dest) && im.acceptHost(dest, ref)
	if gw == "mesh" {
		if external {
			im.host(dest)
			im.use(ref, dest)
			im.reportRenames(ref, matchHosts, dest)
			im.directLegs = append(im.directLegs, &directLeg{host: dest, clientPort: m.port, servicePort: destPort, protocol: proto, from: ref})
			im.hosts[dest].clients = append(im.hosts[dest].clients, sourceScope(m.sourceLabels, m.sourceNamespace, ref)...)
			return []string{dest}
		}
		if !isWildcard(dest) {
			im.meshLegs = append(im.meshLegs, &meshLeg{
				matchHosts: matchHosts, clientPort: m.port, gatewayPort: destPort,
				gatewayHost: dest, subset: d.Subset, protocol: proto,
				clients: sourceScope(m.sourceLabels, m.sourceNamespace, ref), from: ref,
			})
			return im.concreteHosts(matchHosts)
		}
		return nil
	}
	if !external {
		return nil // an ingress gateway, or a route into the cluster
	}
	gwRef := istioGatewayRef(gw, vs.Namespace)
	im.host(dest)
	im.use(ref, dest)
	if im.istioGateway(gwRef) != nil {
		im.use(gwRef, dest)
	}
	im.reportRenames(ref, matchHosts, dest)
	entry := []int32{}
	if m.port != 0 {
		entry = append(entry, m.port)
	} else {
		entry = im.istioGatewayPorts(gwRef, append([]string{dest}, matchHosts...))
	}
	im.checkIstioGatewayServers(gwRef, entry, append([]string{dest}, matchHosts...))
	im.gatewayLegs = append(im.gatewayLegs, &gatewayLeg{
		host: dest, matchHosts: matchHosts, entryPorts: entry, servicePort: destPort,
		protocol: proto, gateway: gwRef, from: ref,
	})
	return []string{dest}
}

// matchHosts normalizes the hosts a rule matched; wildcards stay (and are
// reported), in-cluster names are dropped.
func (im *importer) matchHosts(hosts []string, ns string, ref ObjectRef) []string {
	var out []string
	for _, raw := range hosts {
		h := im.resolveHost(raw, ns)
		if isWildcard(h) {
			im.acceptHost(h, ref)
			out = append(out, h)
			continue
		}
		if im.isExternal(h) {
			out = append(out, h)
		}
	}
	return out
}

// concreteHosts are the non-wildcard hosts of hosts that can be imported.
func (im *importer) concreteHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if !isWildcard(h) && dnsNameProblem(h) == "" {
			out = append(out, h)
		}
	}
	return out
}

// reportRenames reports rules that send calls for one host to another.
func (im *importer) reportRenames(ref ObjectRef, matchHosts []string, dest string) {
	for _, h := range matchHosts {
		if h != dest && !isWildcard(h) {
			im.notCarried.add(h, 0, "host rewrite", fmt.Sprintf(
				"calls to %s were sent to %s; an ExternalService carries calls to its own host only: make one for %s if clients still call it", h, dest, h), ref)
			im.block(ref, h)
		}
	}
}
