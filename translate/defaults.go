package translate

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// withDefaults returns a copy of spec with the API's defaults filled in, for
// objects that did not pass through the API server (egressctl reads files).
func withDefaults(spec egressv1.ExternalServiceSpec) egressv1.ExternalServiceSpec {
	s := *spec.DeepCopy()
	s.DnsName = strings.ToLower(strings.TrimSuffix(s.DnsName, "."))
	for i := range s.Ports {
		if s.Ports[i].Protocol == nil {
			s.Ports[i].Protocol = new(egressv1.ProtocolTCP)
		}
	}
	if s.MinReplicas == nil {
		s.MinReplicas = new(egressv1.DefaultMinReplicas)
	}
	if s.MaxReplicas == nil {
		s.MaxReplicas = new(egressv1.DefaultMaxReplicas)
	}
	if s.TargetCPUUtilizationPercentage == nil {
		s.TargetCPUUtilizationPercentage = new(egressv1.DefaultTargetCPUUtilizationPercentage)
	}
	if s.Resources == nil {
		s.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(egressv1.DefaultRequestCPU),
				corev1.ResourceMemory: resource.MustParse(egressv1.DefaultRequestMemory),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(egressv1.DefaultLimitCPU),
				corev1.ResourceMemory: resource.MustParse(egressv1.DefaultLimitMemory),
			},
		}
	}
	return s
}

// Address ranges a gateway must never be sent to: it would let anyone who can
// create an ExternalService, or answer its DNS, reach inside the network.
var (
	nonPublicV4 = []string{
		"0.0.0.0/8",      // "this network"
		"10.0.0.0/8",     // RFC 1918
		"100.64.0.0/10",  // carrier-grade NAT, often pod or node ranges
		"127.0.0.0/8",    // loopback
		"169.254.0.0/16", // link-local, including cloud metadata 169.254.169.254
		"172.16.0.0/12",  // RFC 1918
		"192.168.0.0/16", // RFC 1918
	}
	nonPublicV6 = []string{
		"::1/128",   // loopback
		"fc00::/7",  // unique local, including AWS metadata fd00:ec2::254
		"fe80::/10", // link-local
		// IPv4-mapped addresses (::ffff:0:0/96) are not listed: the API
		// refuses them in NetworkPolicies, and nonPublic judges them by
		// their IPv4 part.
	}
	nonPublicPrefixes = func() []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range slices.Concat(nonPublicV4, nonPublicV6) {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}()
)

func kindOf(prefix string) string {
	switch prefix {
	case "127.0.0.0/8", "::1/128":
		return "loopback"
	case "169.254.0.0/16", "fe80::/10":
		return "link-local or metadata"
	case "0.0.0.0/8":
		return "reserved"
	default:
		return "private"
	}
}

// nonPublic says what kind of non-public address ip is, or "" when it is
// public (or not an address at all, which admission already refused).
func nonPublic(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() || addr.IsMulticast() {
		return "reserved"
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(addr) {
			return kindOf(p.String())
		}
	}
	return ""
}
