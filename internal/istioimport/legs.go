package istioimport

import "slices"

// gatewayLeg is a rule of an egress gateway that sends traffic on to an
// external host: a VirtualService rule bound to an Istio Gateway, or a
// Gateway API route whose backend is an Istio Hostname.
type gatewayLeg struct {
	host        string   // the external host the gateway connects to
	matchHosts  []string // the hosts or SNI names the rule matched
	entryPorts  []int32  // the gateway ports it listened on; empty when unknown
	servicePort int32    // the port of host it sent to; 0: the entry port
	protocol    protocol
	gateway     ObjectRef // the Istio Gateway or Gateway API Gateway
	from        ObjectRef // the VirtualService or route

	// clientPorts are the ports clients called, set by join from the mesh
	// legs that reach this one.
	clientPorts []int32
}

// meshLeg is a rule that sends sidecars' traffic for some hosts to an
// egress gateway: a VirtualService rule bound to "mesh" whose destination
// is in the cluster, or a Gateway API route whose parent is a ServiceEntry.
type meshLeg struct {
	matchHosts  []string
	clientPort  int32 // 0: every port of the hosts
	gatewayPort int32 // 0: unknown
	// gateway is the Gateway API Gateway whose Service the route sends to,
	// when known; gatewayHost and subset are the Istio destination.
	gateway     ObjectRef
	gatewayHost string
	subset      string
	protocol    protocol
	clients     []clientScope
	from        ObjectRef

	// Set by join: whether a gateway leg continues it, and the external
	// hosts it carries.
	joined bool
	hosts  []string
}

// directLeg is a sidecar rule that sends to an external host itself.
type directLeg struct {
	host        string
	clientPort  int32 // 0: every declared port
	servicePort int32 // 0: the client port
	protocol    protocol
	from        ObjectRef
}

// join links each gateway leg to the mesh legs that send clients to it:
// their client ports and clients become the gateway leg's. Mesh legs no
// gateway leg continues still send their hosts through a gateway.
func (im *importer) join() {
	for _, g := range im.gatewayLegs {
		for _, m := range im.meshLegs {
			if !m.reaches(g) {
				continue
			}
			m.joined = true
			if !slices.Contains(m.hosts, g.host) {
				m.hosts = append(m.hosts, g.host)
			}
			if m.clientPort != 0 && !slices.Contains(g.clientPorts, m.clientPort) {
				g.clientPorts = append(g.clientPorts, m.clientPort)
			}
			im.use(m.from, g.host)
			im.hosts[g.host].clients = append(im.hosts[g.host].clients, m.clients...)
		}
	}
	for _, m := range im.meshLegs {
		if m.joined {
			continue
		}
		for _, h := range im.concreteHosts(m.matchHosts) {
			if im.hosts[h] == nil {
				continue
			}
			m.hosts = append(m.hosts, h)
			im.use(m.from, h)
			im.hosts[h].clients = append(im.hosts[h].clients, m.clients...)
		}
	}
}

// reaches says whether the mesh leg sends its clients to the gateway leg:
// the same gateway (when known), the same gateway port (when known), and a
// host in common.
func (m *meshLeg) reaches(g *gatewayLeg) bool {
	if m.gateway != (ObjectRef{}) && m.gateway != g.gateway {
		return false
	}
	if m.gatewayPort != 0 && len(g.entryPorts) > 0 && !slices.Contains(g.entryPorts, m.gatewayPort) {
		return false
	}
	for _, mh := range m.matchHosts {
		if hostMatches(mh, g.host) || slices.Contains(g.matchHosts, mh) {
			return true
		}
	}
	return false
}
