package istioimport

import (
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// apiRoute is a TLSRoute, TCPRoute or HTTPRoute reduced to what import
// reads.
type apiRoute struct {
	ref       ObjectRef
	protocol  protocol
	parents   []gwapiv1.ParentReference
	hostnames []string
	rules     []apiRule
}

type apiRule struct {
	backends []gwapiv1.BackendRef
	losses   []loss
}

// apiRoutes lists every Gateway API route of the input.
func (im *importer) apiRoutes() []apiRoute {
	var routes []apiRoute
	for _, r := range im.in.tlsRoutes {
		route := apiRoute{ref: gatewayAPIRef("TLSRoute", r), protocol: protoTLS, parents: r.Spec.ParentRefs, hostnames: hostnames(r.Spec.Hostnames)}
		for _, rule := range r.Spec.Rules {
			route.rules = append(route.rules, apiRule{backends: rule.BackendRefs, losses: splitLoss(len(rule.BackendRefs))})
		}
		routes = append(routes, route)
	}
	for _, r := range im.in.tcpRoutes {
		route := apiRoute{ref: gatewayAPIRef("TCPRoute", r), protocol: protoTCP, parents: r.Spec.ParentRefs}
		for _, rule := range r.Spec.Rules {
			route.rules = append(route.rules, apiRule{backends: rule.BackendRefs, losses: splitLoss(len(rule.BackendRefs))})
		}
		routes = append(routes, route)
	}
	for _, r := range im.in.httpRoutes {
		route := apiRoute{ref: gatewayAPIRef("HTTPRoute", r), protocol: protoHTTP, parents: r.Spec.ParentRefs, hostnames: hostnames(r.Spec.Hostnames)}
		for _, rule := range r.Spec.Rules {
			var backends []gwapiv1.BackendRef
			for _, b := range rule.BackendRefs {
				backends = append(backends, b.BackendRef)
			}
			route.rules = append(route.rules, apiRule{backends: backends, losses: httpRouteRuleLosses(rule)})
		}
		routes = append(routes, route)
	}
	return routes
}

func hostnames(hs []gwapiv1.Hostname) []string {
	var out []string
	for _, h := range hs {
		out = append(out, strings.ToLower(string(h)))
	}
	return out
}

// httpRouteRuleLosses lists the HTTP features an HTTPRoute rule uses.
func httpRouteRuleLosses(rule gwapiv1.HTTPRouteRule) []loss {
	var losses []loss
	var routing []string
	for _, m := range rule.Matches {
		if m.Path != nil && !isRootPrefix(m.Path) && !slices.Contains(routing, "path") {
			routing = append(routing, "path")
		}
		if len(m.Headers) > 0 && !slices.Contains(routing, "headers") {
			routing = append(routing, "headers")
		}
		if len(m.QueryParams) > 0 && !slices.Contains(routing, "queryParams") {
			routing = append(routing, "queryParams")
		}
		if m.Method != nil && !slices.Contains(routing, "method") {
			routing = append(routing, "method")
		}
	}
	if len(routing) > 0 {
		losses = append(losses, loss{"HTTP routing", fmt.Sprintf(
			"the route matched requests by %s; an ExternalService's gateway proxies whole connections, so every request to the host is now allowed: restrict paths in the client or the host if that mattered", strings.Join(routing, ", "))})
	}
	filters := slices.Clone(rule.Filters)
	for _, b := range rule.BackendRefs {
		filters = append(filters, b.Filters...)
	}
	var types []string
	for _, f := range filters {
		if !slices.Contains(types, string(f.Type)) {
			types = append(types, string(f.Type))
		}
	}
	if len(types) > 0 {
		losses = append(losses, loss{"HTTP filters", fmt.Sprintf(
			"the route applied %s to requests; the gateway does not read requests: clients must do what the filters did", strings.Join(types, ", "))})
	}
	if rule.Timeouts != nil {
		losses = append(losses, loss{"timeout", "the route timed requests out; clients must set their own timeout"})
	}
	if rule.Retry != nil {
		losses = append(losses, loss{"retries", "the route retried failed requests; the gateway does not read requests, so clients must retry themselves"})
	}
	if rule.SessionPersistence != nil {
		losses = append(losses, loss{"session persistence", "the route pinned sessions to backends; an ExternalService has one backend, its host"})
	}
	return append(losses, splitLoss(len(rule.BackendRefs))...)
}

// isRootPrefix is the default match: every path.
func isRootPrefix(p *gwapiv1.HTTPPathMatch) bool {
	return (p.Type == nil || *p.Type == gwapiv1.PathMatchPathPrefix) && (p.Value == nil || *p.Value == "/")
}

// isHostnameBackend says whether a backend is Istio's Hostname: the
// external host itself.
func isHostnameBackend(b gwapiv1.BackendObjectReference) bool {
	return b.Group != nil && string(*b.Group) == istioGroup && b.Kind != nil && string(*b.Kind) == "Hostname"
}

// isServiceBackend says whether a backend is a core Service.
func isServiceBackend(b gwapiv1.BackendObjectReference) bool {
	return (b.Group == nil || *b.Group == "") && (b.Kind == nil || *b.Kind == "Service")
}

// readGatewayAPIRoutes reads routes whose parent is a Gateway and whose
// backend is a Hostname (gateway legs), and routes whose parent is a
// ServiceEntry (mesh legs, or direct legs for a Hostname backend).
func (im *importer) readGatewayAPIRoutes() {
	for _, r := range im.apiRoutes() {
		for _, parent := range r.parents {
			group, kind := gatewayAPIGroup, "Gateway"
			if parent.Group != nil {
				group = string(*parent.Group)
			}
			if parent.Kind != nil {
				kind = string(*parent.Kind)
			}
			ns := r.ref.Namespace
			if parent.Namespace != nil {
				ns = string(*parent.Namespace)
			}
			switch {
			case group == gatewayAPIGroup && kind == "Gateway":
				im.readForwardRoute(r, parent, ObjectRef{Group: gatewayAPIGroup, Kind: "Gateway", Namespace: ns, Name: string(parent.Name)})
			case group == istioGroup && kind == "ServiceEntry":
				im.readServiceEntryRoute(r, parent, ObjectRef{Group: istioGroup, Kind: "ServiceEntry", Namespace: ns, Name: string(parent.Name)})
			}
		}
	}
}

func (im *importer) gatewayAPIGateway(ref ObjectRef) *gwapiv1.Gateway {
	for _, g := range im.in.gateways {
		if gatewayAPIRef("Gateway", g) == ref {
			return g
		}
	}
	return nil
}

// readForwardRoute reads a route attached to a Gateway: each Hostname
// backend is an external host the gateway connects to.
func (im *importer) readForwardRoute(r apiRoute, parent gwapiv1.ParentReference, gwRef ObjectRef) {
	gw := im.gatewayAPIGateway(gwRef)
	for _, rule := range r.rules {
		var hosts []string
		for _, b := range rule.backends {
			if !isHostnameBackend(b.BackendObjectReference) {
				continue
			}
			host := normalizeHost(string(b.Name), r.ref.Namespace, im.opts.Operator.ClusterDomain)
			if !im.acceptHost(host, r.ref) {
				continue
			}
			matchHosts := r.hostnames
			for _, h := range matchHosts {
				if isWildcard(h) {
					im.acceptHost(h, r.ref)
				}
			}
			im.host(host)
			im.use(r.ref, host)
			im.reportRenames(r.ref, matchHosts, host)
			var entry []int32
			if gw != nil {
				im.use(gwRef, host)
				for _, l := range selectListeners(gw, parent, r.protocol, append([]string{host}, matchHosts...)) {
					entry = append(entry, int32(l.Port))
					im.checkListener(gwRef, l, host)
				}
			} else if parent.Port != nil {
				entry = append(entry, int32(*parent.Port))
			}
			var port int32
			if b.Port != nil {
				port = int32(*b.Port)
			}
			im.gatewayLegs = append(im.gatewayLegs, &gatewayLeg{
				host: host, matchHosts: matchHosts, entryPorts: entry, servicePort: port,
				protocol: r.protocol, gateway: gwRef, from: r.ref,
			})
			hosts = append(hosts, host)
		}
		im.lose(hosts, rule.losses, r.ref)
	}
}

// selectListeners are the listeners of gw a route attaches to: the one
// its parentRef names, else every listener of a matching protocol, port
// and hostname.
func selectListeners(gw *gwapiv1.Gateway, parent gwapiv1.ParentReference, proto protocol, hosts []string) []gwapiv1.Listener {
	var out []gwapiv1.Listener
	for _, l := range gw.Spec.Listeners {
		if parent.SectionName != nil && l.Name != *parent.SectionName {
			continue
		}
		if parent.Port != nil && l.Port != *parent.Port {
			continue
		}
		if parent.SectionName == nil && !listenerTakes(l.Protocol, proto) {
			continue
		}
		if l.Hostname != nil && !slices.ContainsFunc(hosts, func(h string) bool {
			return hostMatches(strings.ToLower(string(*l.Hostname)), h) || strings.EqualFold(string(*l.Hostname), h)
		}) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func listenerTakes(lp gwapiv1.ProtocolType, route protocol) bool {
	switch route {
	case protoTLS:
		return lp == gwapiv1.TLSProtocolType
	case protoTCP:
		return lp == gwapiv1.TCPProtocolType
	default:
		return lp == gwapiv1.HTTPProtocolType || lp == gwapiv1.HTTPSProtocolType
	}
}

// checkListener reports TLS a listener terminated and wildcard listener
// hostnames.
func (im *importer) checkListener(gwRef ObjectRef, l gwapiv1.Listener, host string) {
	if l.Hostname != nil && isWildcard(string(*l.Hostname)) {
		im.acceptHost(strings.ToLower(string(*l.Hostname)), gwRef)
	}
	terminates := l.Protocol == gwapiv1.HTTPSProtocolType ||
		(l.Protocol == gwapiv1.TLSProtocolType && (l.TLS == nil || l.TLS.Mode == nil || *l.TLS.Mode == gwapiv1.TLSModeTerminate))
	if terminates {
		im.notCarried.add(host, int32(l.Port), "TLS termination at the gateway", fmt.Sprintf(
			"the gateway's listener %s terminated TLS; an ExternalService's gateway passes TLS through untouched", l.Name), gwRef)
	}
}

// readServiceEntryRoute reads a route whose parent is a ServiceEntry: the
// sidecars of the mesh send that ServiceEntry's hosts to the backend.
func (im *importer) readServiceEntryRoute(r apiRoute, parent gwapiv1.ParentReference, seRef ObjectRef) {
	found := false
	var seHosts []string // the ServiceEntry's hosts that were imported
	for _, candidate := range im.in.serviceEntries {
		if istioRef("ServiceEntry", candidate) != seRef {
			continue
		}
		found = true
		for _, h := range candidate.Spec.Hosts {
			if h = normalizeHost(h, candidate.Namespace, im.opts.Operator.ClusterDomain); im.hosts[h] != nil {
				seHosts = append(seHosts, h)
			}
		}
	}
	if !found {
		im.ignore(r.ref, fmt.Sprintf("its parent %s is not in the input: import it together with the route", seRef.short()))
		return
	}
	var clientPorts []int32
	if parent.Port != nil {
		clientPorts = []int32{int32(*parent.Port)}
	}
	for _, rule := range r.rules {
		for _, b := range rule.backends {
			var port int32
			if b.Port != nil {
				port = int32(*b.Port)
			}
			switch {
			case isHostnameBackend(b.BackendObjectReference):
				host := normalizeHost(string(b.Name), r.ref.Namespace, im.opts.Operator.ClusterDomain)
				if !im.acceptHost(host, r.ref) {
					continue
				}
				im.host(host)
				im.use(r.ref, host)
				for _, c := range cmpSlices(clientPorts, []int32{0}) {
					im.directLegs = append(im.directLegs, &directLeg{host: host, clientPort: c, servicePort: port, protocol: r.protocol, from: r.ref})
				}
			case isServiceBackend(b.BackendObjectReference):
				im.use(r.ref, seHosts...)
				ns := r.ref.Namespace
				if b.Namespace != nil {
					ns = string(*b.Namespace)
				}
				var gwRef ObjectRef
				if name, ok := strings.CutSuffix(string(b.Name), "-istio"); ok {
					candidate := ObjectRef{Group: gatewayAPIGroup, Kind: "Gateway", Namespace: ns, Name: name}
					if im.gatewayAPIGateway(candidate) != nil {
						gwRef = candidate
					}
				}
				for _, h := range seHosts {
					for _, c := range im.portsOrDeclared(im.hosts[h], cmpSlices(clientPorts, []int32{0})[0], r.protocol) {
						im.meshLegs = append(im.meshLegs, &meshLeg{
							matchHosts: []string{h}, clientPort: c, gatewayPort: port, gateway: gwRef,
							protocol: r.protocol, from: r.ref,
						})
					}
				}
			}
		}
		im.lose(seHosts, rule.losses, r.ref)
	}
}
