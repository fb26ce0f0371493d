package translate

import (
	"net/netip"
	"slices"
)

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
