package dnsplugin

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Table is an immutable snapshot of everything a query needs: the hijacked
// names and the gateway pod IPs. The watcher builds a new Table whenever an
// ExternalService or a gateway pod changes and swaps it in atomically, so
// answering a query is one map lookup and never takes a lock.
type Table struct {
	// names maps a lowercase fully qualified name (with its trailing dot) to
	// what the plugin answers for it.
	names map[string]*record
	// gateways holds the IPs of the gateway pods, whose queries get the real
	// answer.
	gateways map[netip.Addr]struct{}
}

// record is what the plugin answers for one hijacked name.
type record struct {
	// service is the ExternalService that owns the name, for metrics.
	service string
	// a holds the IPv4 addresses (4-byte form) and aaaa the IPv6 ones, in
	// the order of status.addresses. Both empty means SERVFAIL.
	a, aaaa []net.IP
}

// hasAddress reports whether the record can answer at all.
func (r *record) hasAddress() bool { return len(r.a)+len(r.aaaa) > 0 }

// Len is the number of hijacked names.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.names)
}

// lookup returns the record of qname, matched exactly and case-insensitively,
// with or without a trailing dot; nil when the name is not hijacked.
func (t *Table) lookup(qname string) *record {
	if t == nil || len(t.names) == 0 {
		return nil
	}
	return t.lookupCanonical(canonicalName(qname))
}

// lookupCanonical is lookup for a name already in canonical form.
func (t *Table) lookupCanonical(name string) *record {
	if t == nil || len(t.names) == 0 {
		return nil
	}
	return t.names[name]
}

// isGateway reports whether ip is the IP of a gateway pod.
func (t *Table) isGateway(ip netip.Addr) bool {
	if t == nil || len(t.gateways) == 0 {
		return false
	}
	_, ok := t.gateways[ip]
	return ok
}

// canonicalName lowercases a name and gives it a trailing dot. strings.ToLower
// returns its argument unchanged (no allocation) when it is already lowercase,
// which is how names almost always arrive.
func canonicalName(name string) string {
	return dns.Fqdn(strings.ToLower(name))
}

// buildTable computes the lookup table from the ExternalServices and the
// gateway pods. zone is the cluster domain: names inside it are never
// hijacked. Each name is hijacked only while its owner has DNSHijacked=True.
func buildTable(services []*egressv1.ExternalService, pods []*corev1.Pod, zone string) *Table {
	owners := owners(services, zone)
	t := &Table{
		names:    make(map[string]*record, len(owners)),
		gateways: make(map[netip.Addr]struct{}, len(pods)),
	}
	for key, owner := range owners {
		if meta.IsStatusConditionTrue(owner.Status.Conditions, egressv1.ConditionDNSHijacked) {
			t.names[key] = newRecord(owner)
		}
	}
	for _, p := range pods {
		for _, ip := range podIPs(p) {
			t.gateways[ip] = struct{}{}
		}
	}
	return t
}

// owners maps each canonical dnsName outside the cluster domain zone to the
// ExternalService that owns it, by egressv1.DNSNameOwner: the rule the
// controller follows, so the plugin hijacks a name for the ExternalService
// the controller built the gateway for, and for no other.
func owners(services []*egressv1.ExternalService, zone string) map[string]*egressv1.ExternalService {
	claimants := make(map[string][]*egressv1.ExternalService, len(services))
	for _, es := range services {
		name := strings.TrimSpace(es.Spec.DnsName)
		if name == "" || egressv1.InClusterDomain(name, zone) {
			continue
		}
		key := canonicalName(name)
		claimants[key] = append(claimants[key], es)
	}
	out := make(map[string]*egressv1.ExternalService, len(claimants))
	for key, list := range claimants {
		if owner := egressv1.DNSNameOwner(list); owner != nil {
			out[key] = owner
		}
	}
	return out
}

// newRecord turns an ExternalService's status.addresses into answer data.
// Addresses that do not parse are skipped; duplicates are kept once.
func newRecord(es *egressv1.ExternalService) *record {
	r := &record{service: es.Name}
	seen := make(map[netip.Addr]bool, len(es.Status.Addresses))
	for _, s := range es.Status.Addresses {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		ip = ip.Unmap().WithZone("")
		if seen[ip] {
			continue
		}
		seen[ip] = true
		if ip.Is4() {
			r.a = append(r.a, net.IP(ip.AsSlice()))
		} else {
			r.aaaa = append(r.aaaa, net.IP(ip.AsSlice()))
		}
	}
	return r
}

// podIPs returns the IPs of a pod that can still send queries: every IP in
// status.podIPs (and status.podIP), unless the pod has finished.
func podIPs(p *corev1.Pod) []netip.Addr {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap().WithZone(""))
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		if ip.IP != p.Status.PodIP {
			add(ip.IP)
		}
	}
	return out
}
