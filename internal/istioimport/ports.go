package istioimport

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	istioapi "istio.io/api/networking/v1alpha3"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// flow is one way clients reached a host: the port they called, the port
// of the host's service it was addressed to, the port on the host it
// reached, and how.
type flow struct {
	client, service, upstream int32
	protocol                  protocol
	viaGateway                bool
	from                      ObjectRef
}

// flows lists every flow of h: through egress gateways first, then the
// declared ports no gateway carried, which sidecars called directly.
func (im *importer) flows(h *hostState) []flow {
	var flows []flow
	covered := map[int32]bool{}
	add := func(f flow) {
		flows = append(flows, f)
		covered[f.client] = true
	}
	for _, g := range im.gatewayLegs {
		if g.host != h.name {
			continue
		}
		services := []int32{g.servicePort}
		if g.servicePort == 0 {
			services = g.entryPorts
		}
		if len(services) == 0 {
			for _, p := range h.declaredPorts(g.protocol) {
				services = append(services, p.number)
			}
		}
		for _, s := range services {
			// Clients called the ports mesh legs matched; without those,
			// the gateway's own ports; a gateway that forwards to the port
			// it listened on was called on that port.
			clients := g.clientPorts
			if len(clients) == 0 && g.servicePort != 0 {
				clients = g.entryPorts
			}
			if len(clients) == 0 {
				clients = []int32{s}
			}
			for _, c := range clients {
				add(flow{c, s, h.upstream(s), g.protocol, true, g.from})
			}
		}
	}
	for _, m := range im.meshLegs {
		if m.joined || !slices.Contains(m.hosts, h.name) {
			continue
		}
		for _, p := range im.portsOrDeclared(h, m.clientPort, m.protocol) {
			add(flow{p, p, h.upstream(p), m.protocol, true, m.from})
		}
	}
	for _, d := range im.directLegs {
		if d.host != h.name {
			continue
		}
		for _, c := range im.portsOrDeclared(h, d.clientPort, d.protocol) {
			s := cmp.Or(d.servicePort, c)
			add(flow{c, s, h.upstream(s), d.protocol, false, d.from})
		}
	}
	for _, p := range h.allDeclared() {
		if !covered[p.number] {
			add(flow{p.number, p.number, p.upstream(), p.protocol, false, p.from})
		}
	}
	return flows
}

// portsOrDeclared is [port], or the declared ports of family proto when
// port is 0 (a rule for every port).
func (im *importer) portsOrDeclared(h *hostState, port int32, proto protocol) []int32 {
	if port != 0 {
		return []int32{port}
	}
	var ports []int32
	for _, p := range h.declaredPorts(proto) {
		ports = append(ports, p.number)
	}
	return ports
}

// maxPorts is the most ports and addresses an ExternalService takes.
const maxPorts = 16

// carriable reports whether an ExternalService can carry flow f at all,
// recording why not when it cannot.
func (im *importer) carriable(h *hostState, f flow) bool {
	switch {
	case f.upstream < 1 || f.upstream > 65535:
		im.notCarried.add(h.name, 0, "no port number", fmt.Sprintf(
			"a port of %s has number %d, which is not a port (1-65535), so it is left out: give the port its number", h.name, f.upstream), f.from)
		return false
	case f.protocol == protoUDP:
		im.notCarried.add(h.name, f.client, "UDP", "gateways cannot proxy UDP, so this port is left out", f.from)
		return false
	}
	return true
}

// ports turns the flows of h into ExternalService ports, recording what
// they do not carry: TLS origination, port changes, UDP, sidecar-only
// traffic.
func (im *importer) ports(h *hostState) []egressv1.ExternalServicePort {
	flows := im.flows(h)
	throughGateway := map[int32]bool{}
	for _, f := range flows {
		if f.viaGateway {
			throughGateway[f.client] = true
		}
	}
	protocols := map[int32]map[egressv1.Protocol][]ObjectRef{}
	for _, f := range flows {
		if !im.carriable(h, f) {
			continue
		}
		proto := esProtocol(f.protocol)
		var tls clientTLSSetting
		if f.protocol != protoTLS { // a DestinationRule's TLS on a TLS port would wrap TLS in TLS: not origination
			tls = im.clientTLS(h.name, f.service)
		}
		switch {
		case tls.originates():
			proto = egressv1.ProtocolTLS
			im.notCarried.add(h.name, f.upstream, "TLS origination", fmt.Sprintf(
				"clients sent unencrypted %s to port %d and Istio opened the TLS connection to %s:%d itself (%s tls mode %s). An ExternalService passes TLS through and never originates it: change the clients to speak TLS to %s on port %d",
				f.protocol, f.client, h.name, f.upstream, tls.from.short(), tls.mode, h.name, f.upstream), f.from, tls.from)
		case tls.mode == istioapi.ClientTLSSettings_ISTIO_MUTUAL:
			im.notCarried.add(h.name, f.upstream, "mesh mTLS to the host",
				fmt.Sprintf("%s asks for Istio mutual TLS toward an external host, which an ExternalService does not do", tls.from.short()), tls.from)
		}
		if f.client != f.upstream && !tls.originates() {
			im.notCarried.add(h.name, f.client, "port change", fmt.Sprintf(
				"clients called port %d and Istio sent it on to port %d; an ExternalService's gateway forwards each port unchanged: change the clients to call port %d",
				f.client, f.upstream, f.upstream), f.from)
		}
		if f.protocol == protoHTTP && !tls.originates() {
			im.changed.add(h.name, f.upstream, "HTTP becomes TCP", fmt.Sprintf(
				"the gateway now proxies port %d as TCP without reading requests (no per-request routing, retries or HTTP metrics); clients keep calling http://%s as before", f.upstream, hostPort(h.name, f.upstream, 80)), f.from)
		}
		if !f.viaGateway && len(throughGateway) > 0 && !throughGateway[f.client] {
			im.notCarried.add(h.name, f.client, "sidecar-only",
				fmt.Sprintf("sidecars called port %d directly, not through the egress gateway; the ExternalService sends it through its gateway too", f.client), f.from)
		}
		if protocols[f.upstream] == nil {
			protocols[f.upstream] = map[egressv1.Protocol][]ObjectRef{}
		}
		protocols[f.upstream][proto] = append(protocols[f.upstream][proto], f.from)
	}

	var ports []egressv1.ExternalServicePort
	for _, number := range slices.Sorted(maps.Keys(protocols)) {
		seen := protocols[number]
		proto := egressv1.ProtocolTCP
		if _, ok := seen[egressv1.ProtocolTLS]; ok {
			proto = egressv1.ProtocolTLS
			if tcpFrom, both := seen[egressv1.ProtocolTCP]; both {
				im.changed.add(h.name, number, "TCP and TLS", fmt.Sprintf(
					"port %d was used both as TLS and as plain TCP; the ExternalService takes TLS, so clients must send the SNI %s", number, h.name), tcpFrom...)
			}
		}
		ports = append(ports, egressv1.ExternalServicePort{Port: number, Protocol: new(proto)})
	}
	if len(ports) > 0 && len(throughGateway) == 0 {
		var from []ObjectRef
		for _, f := range flows {
			from = append(from, f.from)
		}
		im.notCarried.add(h.name, 0, "sidecar-only",
			fmt.Sprintf("no egress gateway carried %s: sidecars called it directly. The ExternalService sends it through its own gateway, which only labelled pods may use", h.name), from...)
	}
	if len(ports) > maxPorts {
		im.notCarried.add(h.name, 0, "too many ports", fmt.Sprintf(
			"an ExternalService takes at most %d ports; ports above %d are left out: split them by hand", maxPorts, ports[maxPorts-1].Port))
		ports = ports[:maxPorts]
	}
	return ports
}

// hostPort is host, with ":port" unless port is def.
func hostPort(host string, port, def int32) string {
	if port == def {
		return host
	}
	return fmt.Sprintf("%s:%d", host, port)
}
