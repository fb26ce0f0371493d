package istioimport

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// protocol is the family of an Istio or Gateway API port or route: what
// the egress gateway saw on the wire.
type protocol string

const (
	protoTLS  protocol = "TLS"
	protoTCP  protocol = "TCP"
	protoHTTP protocol = "HTTP"
	protoUDP  protocol = "UDP"
)

// istioProtocol maps an Istio port protocol (ServiceEntry, Gateway server)
// to its family. An empty protocol is taken from the port name's prefix,
// as Istio does ("https-api" is HTTPS).
func istioProtocol(declared, portName string) protocol {
	p := strings.ToUpper(declared)
	if p == "" {
		p, _, _ = strings.Cut(strings.ToUpper(portName), "-")
	}
	switch p {
	case "TLS", "HTTPS":
		return protoTLS
	case "HTTP", "HTTP2", "GRPC", "GRPC-WEB":
		return protoHTTP
	case "UDP":
		return protoUDP
	default: // TCP, MONGO, MYSQL, REDIS and anything unnamed are opaque TCP
		return protoTCP
	}
}

// serviceProtocol is the family of a Kubernetes Service port: its
// appProtocol, else its name, as Istio selects it.
func serviceProtocol(proto, appProtocol, name string) protocol {
	if strings.EqualFold(proto, "UDP") {
		return protoUDP
	}
	switch strings.ToLower(appProtocol) {
	case "":
	case "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss":
		return protoHTTP
	default:
		return istioProtocol(appProtocol, "")
	}
	return istioProtocol("", name)
}

// esProtocol is the ExternalService protocol a family becomes. HTTP is
// proxied as TCP: the gateway never reads requests.
func esProtocol(p protocol) egressv1.Protocol {
	if p == protoTLS {
		return egressv1.ProtocolTLS
	}
	return egressv1.ProtocolTCP
}

// normalizeHost lowercases host, drops a trailing dot, and turns a short
// name (no dot) into the fully qualified in-cluster name Istio resolves it
// to in namespace ns.
func normalizeHost(host, ns, clusterDomain string) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h != "" && !strings.Contains(h, ".") && h != "*" {
		return h + "." + ns + ".svc." + clusterDomain
	}
	return h
}

// stripNamespace drops the "namespace/" an Istio Gateway or Sidecar host
// may carry, e.g. "./edition.cnn.com".
func stripNamespace(host string) (ns, name string) {
	if before, after, ok := strings.Cut(host, "/"); ok {
		return before, after
	}
	return "", host
}

func isWildcard(host string) bool { return strings.HasPrefix(host, "*") }

// hostMatches says whether pattern (a host or a "*.domain" wildcard)
// covers host. "*" alone covers everything.
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == host || pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:])
	}
	return false
}

// inClusterDomain says whether host is a name inside the cluster domain.
func inClusterDomain(host, clusterDomain string) bool {
	d := strings.Trim(strings.ToLower(clusterDomain), ".")
	return d != "" && (host == d || strings.HasSuffix(host, "."+d))
}

// looksInCluster says whether a host nobody declared external is an
// in-cluster Service name: inside the cluster domain, or "name.namespace"
// style names ending in ".svc".
func looksInCluster(host, clusterDomain string) bool {
	return inClusterDomain(host, clusterDomain) || strings.HasSuffix(host, ".svc") || !strings.Contains(host, ".")
}

// dnsNamePattern is the ExternalService CRD's rule for dnsName.
var dnsNamePattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// dnsNameProblem says why host cannot be an ExternalService's dnsName, or
// returns "" when it can.
func dnsNameProblem(host string) string {
	switch {
	case isWildcard(host):
		return "a wildcard"
	case isIP(host):
		return "an IP address, not a DNS name"
	case !strings.Contains(host, "."):
		return "a name without a dot, which resolves inside the cluster"
	case len(host) > 253 || !dnsNamePattern.MatchString(host):
		return "not a valid DNS name"
	}
	return ""
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// NameForHost derives an ExternalService name from a host (egressctl import
// and egressctl observe --suggest both name theirs so): the host with
// dots as dashes (api.github.com → api-github-com), starting with a letter
// ("es-" is put in front otherwise), at most MaxNameLength characters; a
// longer one is cut and ends in a hash of the whole host, so two long
// hosts do not collide.
func NameForHost(host string) string {
	name := strings.ReplaceAll(host, ".", "-")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "es-" + name
	}
	if len(name) <= egressv1.MaxNameLength {
		return name
	}
	return NameWithHash(name, host)
}

// NameWithHash cuts name so that "-<hash of seed>" fits in MaxNameLength.
func NameWithHash(name, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	suffix := "-" + hex.EncodeToString(sum[:4])
	keep := min(len(name), egressv1.MaxNameLength-len(suffix))
	return strings.TrimRight(name[:keep], "-") + suffix
}

// cmpSlices is a when it is not empty, else b.
func cmpSlices[T any](a, b []T) []T {
	if len(a) > 0 {
		return a
	}
	return b
}

func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
