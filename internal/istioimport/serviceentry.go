// Reading Istio ServiceEntries, the first read step: they declare the
// external hosts, their ports and static addresses, and who sees them.

package istioimport

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
)

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
