// Reading, step by step, fills one hostState per external host: the
// ports and addresses declared for it, its clients and gateway settings.
// This file holds that state and the checks every read step makes on a
// host: is it external, and can it be an ExternalService's dnsName.

package istioimport

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// hostState is everything read about one external host.
type hostState struct {
	name string
	// declared are the ports ServiceEntries and ExternalName Services
	// declare, by number.
	declared map[int32]declaredPort
	// declaredIn are the namespaces of the objects that declare the host.
	declaredIn map[string]bool
	ips        []string
	ipsFrom    []ObjectRef
	clients    []clientScope
	// maxConnections is a DestinationRule's connectionPool.tcp.maxConnections.
	maxConnections *int64
	settings       gatewaySettings
}

// declaredPort is a port a ServiceEntry or ExternalName Service declares.
type declaredPort struct {
	number   int32
	target   int32 // targetPort, 0 when unset
	protocol protocol
	from     ObjectRef
}

// upstream is the port on the host it reaches: targetPort, else the port.
func (p declaredPort) upstream() int32 { return cmp.Or(p.target, p.number) }

// host returns the state of host, creating it.
func (im *importer) host(name string) *hostState {
	h := im.hosts[name]
	if h == nil {
		h = &hostState{name: name, declared: map[int32]declaredPort{}, declaredIn: map[string]bool{}}
		im.hosts[name] = h
	}
	return h
}

// declare records a port of h; the first declaration of a number wins.
func (h *hostState) declare(p declaredPort) {
	if _, ok := h.declared[p.number]; !ok {
		h.declared[p.number] = p
	}
	h.declaredIn[p.from.Namespace] = true
}

// allDeclared are the declared ports, sorted by number.
func (h *hostState) allDeclared() []declaredPort {
	return slices.SortedFunc(maps.Values(h.declared), func(a, b declaredPort) int { return cmp.Compare(a.number, b.number) })
}

// declaredPorts are the declared ports of family proto, or all of them
// when none is, sorted by number.
func (h *hostState) declaredPorts(proto protocol) []declaredPort {
	all := h.allDeclared()
	same := slices.DeleteFunc(slices.Clone(all), func(p declaredPort) bool { return p.protocol != proto })
	if len(same) > 0 {
		return same
	}
	return all
}

// upstream is the port on the host that service port s reaches.
func (h *hostState) upstream(s int32) int32 {
	if p, ok := h.declared[s]; ok {
		return p.upstream()
	}
	return s
}

// resolveHost normalizes host as seen from namespace ns and follows
// ExternalName aliases to the external host.
func (im *importer) resolveHost(host, ns string) string {
	h := normalizeHost(host, ns, im.opts.Operator.ClusterDomain)
	if ext, ok := im.aliases[h]; ok {
		return ext
	}
	return h
}

// isExternal says whether traffic to host leaves the cluster: a host some
// object declared external, or a name that does not look in-cluster.
func (im *importer) isExternal(host string) bool {
	if _, ok := im.hosts[host]; ok {
		return true
	}
	return host != "" && !isWildcard(host) && !looksInCluster(host, im.opts.Operator.ClusterDomain)
}

// acceptHost says whether host can be an ExternalService's dnsName. When
// it cannot, it records why and that ref must stay.
func (im *importer) acceptHost(host string, ref ObjectRef) bool {
	if host == "" || host == "*" {
		return false
	}
	if isWildcard(host) {
		im.notCarried.add(host, 0, "wildcard host",
			fmt.Sprintf("an ExternalService names exactly one host, so %s cannot be carried over: create one for each name clients really call under it", host), ref)
		im.block(ref, host)
		return false
	}
	if why := dnsNameProblem(host); why != "" {
		im.notCarried.add(host, 0, "not a DNS name", fmt.Sprintf("%s is %s; an ExternalService needs a DNS name such as api.example.com", host, why), ref)
		im.block(ref, host)
		return false
	}
	if inClusterDomain(host, im.opts.Operator.ClusterDomain) {
		im.notCarried.add(host, 0, "in-cluster host", fmt.Sprintf("%s is inside the cluster domain: egress gateways are for hosts outside the cluster; call the Service directly", host), ref)
		im.block(ref, host)
		return false
	}
	return true
}
