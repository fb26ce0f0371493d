package istioimport

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func istioRef(kind string, m metav1.Object) ObjectRef {
	return ObjectRef{Group: istioGroup, Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}
}

// readServiceEntries declares every MESH_EXTERNAL host with its ports,
// static addresses and the namespaces it is exported to.
func (im *importer) readServiceEntries() {
	for _, se := range im.in.serviceEntries {
		ref := istioRef("ServiceEntry", se)
		generated := im.generated[ref] != ""
		spec := &se.Spec
		if spec.Location == istioapi.ServiceEntry_MESH_INTERNAL {
			im.ignore(ref, "location MESH_INTERNAL: a service inside the mesh, not an external host")
			continue
		}
		var hosts []string
		for _, raw := range spec.Hosts {
			h := normalizeHost(raw, se.Namespace, im.opts.Operator.ClusterDomain)
			if im.acceptHost(h, ref) {
				hosts = append(hosts, h)
			}
		}
		for _, h := range hosts {
			hs := im.host(h)
			im.use(ref, h)
			for _, p := range spec.Ports {
				hs.declare(declaredPort{number: int32(p.Number), target: int32(p.TargetPort), protocol: istioProtocol(p.Protocol, p.Name), from: ref})
			}
			if len(spec.Ports) == 0 {
				hs.declaredIn[se.Namespace] = true
			}
			im.readEndpoints(se, hs)
			if !generated {
				hs.clients = append(hs.clients, exportScopes(spec.ExportTo, se.Namespace, h, ref)...)
			}
		}
		im.lose(hosts, serviceEntryLosses(spec, ref), ref)
	}
}

// readEndpoints turns STATIC endpoints into ipOverride.
func (im *importer) readEndpoints(se *istionetworking.ServiceEntry, h *hostState) {
	ref := istioRef("ServiceEntry", se)
	spec := &se.Spec
	if len(spec.Endpoints) == 0 {
		return
	}
	if spec.Resolution != istioapi.ServiceEntry_STATIC {
		im.notCarried.add(h.name, 0, "endpoints", fmt.Sprintf(
			"the gateway connected to the endpoints %s instead of resolving %s; an ExternalService resolves its dnsName, or pins IP addresses in ipOverride", endpointAddresses(spec.Endpoints), h.name), ref)
		return
	}
	for _, ep := range spec.Endpoints {
		switch {
		case !isIP(ep.Address):
			im.notCarried.add(h.name, 0, "endpoints", fmt.Sprintf(
				"the endpoint %s is not an IP address; ipOverride takes IP addresses only", ep.Address), ref)
		default:
			h.ips = append(h.ips, ep.Address)
			h.ipsFrom = append(h.ipsFrom, ref)
		}
		if len(ep.Ports) > 0 {
			im.notCarried.add(h.name, 0, "endpoint ports", fmt.Sprintf(
				"the endpoint %s maps ports (%s); the gateway connects to the same port clients called", ep.Address, portMap(ep.Ports)), ref)
		}
	}
}

func endpointAddresses(eps []*istioapi.WorkloadEntry) string {
	var out []string
	for _, ep := range eps {
		out = append(out, ep.Address)
	}
	return strings.Join(out, ", ")
}

func portMap(ports map[string]uint32) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(ports)) {
		out = append(out, fmt.Sprintf("%s→%d", k, ports[k]))
	}
	return strings.Join(out, ", ")
}

// serviceEntryLosses are the ServiceEntry fields an ExternalService has no
// place for.
func serviceEntryLosses(spec *istioapi.ServiceEntry, ref ObjectRef) []loss {
	var losses []loss
	if len(spec.Addresses) > 0 {
		losses = append(losses, loss{"client addresses", fmt.Sprintf(
			"clients reached it by address (%s addresses %s); egressgate routes by DNS name, so change the clients to call the host name", ref.short(), strings.Join(spec.Addresses, ", "))})
	}
	if len(spec.SubjectAltNames) > 0 {
		losses = append(losses, loss{"subjectAltNames", "the certificate names it checked (" + strings.Join(spec.SubjectAltNames, ", ") + ") are not checked by a TLS passthrough gateway; clients must verify the certificate themselves"})
	}
	if spec.WorkloadSelector != nil {
		losses = append(losses, loss{"workloadSelector", "its endpoints were selected pods, which an ExternalService cannot name"})
	}
	return losses
}

// exportScopes describe the pods a ServiceEntry was visible to.
func exportScopes(exportTo []string, ns, host string, ref ObjectRef) []clientScope {
	if len(exportTo) == 0 || slices.Contains(exportTo, "*") {
		return []clientScope{{false, "every pod, in any namespace, that calls " + host, ref.short() + " is exported to every namespace"}}
	}
	var scopes []clientScope
	for _, to := range exportTo {
		switch to {
		case "~":
			continue
		case ".":
			to = ns
		}
		scopes = append(scopes, clientScope{false, fmt.Sprintf("pods in namespace %s that call %s", to, host), ref.short() + " exportTo"})
	}
	return scopes
}

// vsRule is one http, tls or tcp rule of a VirtualService, reduced to what
// import reads.
type vsRule struct {
	protocol     protocol
	matches      []vsMatch
	destinations []*istioapi.Destination
	losses       []loss
}

type vsMatch struct {
	gateways        []string
	port            int32
	sniHosts        []string
	sourceLabels    map[string]string
	sourceNamespace string
}

func vsRules(spec *istioapi.VirtualService) []vsRule {
	var rules []vsRule
	for _, r := range spec.Http {
		rules = append(rules, httpRule(r))
	}
	for _, r := range spec.Tls {
		rule := vsRule{protocol: protoTLS}
		for _, m := range r.Match {
			rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), m.SniHosts, m.SourceLabels, m.SourceNamespace})
			rule.losses = append(rule.losses, subnetLosses(m.DestinationSubnets, "")...)
		}
		for _, d := range r.Route {
			rule.destinations = append(rule.destinations, d.Destination)
		}
		rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
		rules = append(rules, rule)
	}
	for _, r := range spec.Tcp {
		rule := vsRule{protocol: protoTCP}
		for _, m := range r.Match {
			rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), nil, m.SourceLabels, m.SourceNamespace})
			rule.losses = append(rule.losses, subnetLosses(m.DestinationSubnets, m.SourceSubnet)...)
		}
		for _, d := range r.Route {
			rule.destinations = append(rule.destinations, d.Destination)
		}
		rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
		rules = append(rules, rule)
	}
	return rules
}

func subnetLosses(destination []string, source string) []loss {
	var losses []loss
	if len(destination) > 0 {
		losses = append(losses, loss{"client addresses", fmt.Sprintf(
			"the route matched the addresses clients dialled (destinationSubnets %s); egressgate routes by DNS name, so change the clients to call the host name", strings.Join(destination, ", "))})
	}
	if source != "" {
		losses = append(losses, loss{"source subnet", fmt.Sprintf(
			"the route matched clients from %s; an ExternalService admits clients by label: label those pods instead", source)})
	}
	return losses
}

func splitLoss(destinations int) []loss {
	if destinations < 2 {
		return nil
	}
	return []loss{{"traffic split", fmt.Sprintf(
		"the route split traffic between %d destinations; an ExternalService sends everything to its one host", destinations)}}
}

// httpRule reduces an HTTP rule and lists the HTTP features it uses, none
// of which a TCP or TLS passthrough gateway has.
func httpRule(r *istioapi.HTTPRoute) vsRule {
	rule := vsRule{protocol: protoHTTP}
	var routing []string
	for _, m := range r.Match {
		rule.matches = append(rule.matches, vsMatch{m.Gateways, int32(m.Port), nil, m.SourceLabels, m.SourceNamespace})
		for what, set := range map[string]bool{
			"uri": m.Uri != nil, "scheme": m.Scheme != nil, "method": m.Method != nil, "authority": m.Authority != nil,
			"headers": len(m.Headers) > 0, "queryParams": len(m.QueryParams) > 0, "withoutHeaders": len(m.WithoutHeaders) > 0,
		} {
			if set && !slices.Contains(routing, what) {
				routing = append(routing, what)
			}
		}
	}
	if len(routing) > 0 {
		slices.Sort(routing)
		rule.losses = append(rule.losses, loss{"HTTP routing", fmt.Sprintf(
			"the route matched requests by %s; an ExternalService's gateway proxies whole connections, so every request to the host is now allowed: restrict paths in the client or the host if that mattered", strings.Join(routing, ", "))})
	}
	headerChanges := r.Headers != nil
	for _, d := range r.Route {
		rule.destinations = append(rule.destinations, d.Destination)
		headerChanges = headerChanges || d.Headers != nil
	}
	rule.losses = append(rule.losses, splitLoss(len(r.Route))...)
	if r.Fault != nil {
		var what []string
		if r.Fault.Delay != nil {
			what = append(what, "delays")
		}
		if r.Fault.Abort != nil {
			what = append(what, "aborts")
		}
		rule.losses = append(rule.losses, loss{"fault injection", fmt.Sprintf(
			"Istio injected %s into requests; the gateway does not read requests and injects nothing: use a chaos tool or test double if you still need it", strings.Join(what, " and "))})
	}
	if r.Retries != nil {
		rule.losses = append(rule.losses, loss{"retries", fmt.Sprintf(
			"Istio retried failed requests (attempts %d, retryOn %q); the gateway does not read requests, so clients must retry themselves", r.Retries.Attempts, r.Retries.RetryOn)})
	}
	if r.Timeout != nil {
		rule.losses = append(rule.losses, loss{"timeout", fmt.Sprintf(
			"Istio timed requests out after %s; clients must set their own timeout", r.Timeout.AsDuration())})
	}
	for _, f := range []struct {
		set          bool
		reason, what string
	}{
		{r.Rewrite != nil, "rewrite", "Istio rewrote the request's path or authority: clients must send what the host expects"},
		{r.Redirect != nil || r.DirectResponse != nil, "answered by Istio", "Istio answered some requests itself (redirect or direct response); the gateway passes every request to the host"},
		{r.Delegate != nil, "delegation", "the route delegated to another VirtualService, which import does not follow: import that one too"},
		{r.Mirror != nil || len(r.Mirrors) > 0, "mirroring", "Istio copied requests to another destination; nothing is mirrored now"},
		{r.CorsPolicy != nil, "CORS", "Istio answered CORS preflight requests; the host's own CORS headers reach clients now"},
		{headerChanges, "header changes", "Istio added or removed request or response headers; clients must set what the host needs"},
	} {
		if f.set {
			rule.losses = append(rule.losses, loss{f.reason, f.what})
		}
	}
	return rule
}

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
