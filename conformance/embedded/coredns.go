package embedded

import (
	"context"
	"fmt"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// CoreDNS runs with the egressoperator plugin, as the cluster DNS server,
// and plays the internet for ExternalDomain.

// ExternalDomain is where the stand-in for the internet answers every name
// with A, AAAA, HTTPS and SVCB records (TEST-NET and documentation addresses).
const ExternalDomain = "conformance.egressgate.test"

// Upstream addresses the stand-in for the internet answers.
const (
	UpstreamIPv4 = "192.0.2.10"
	UpstreamIPv6 = "2001:db8::10"
)

// standIn is the Corefile part that plays the internet for ExternalDomain
// and answers NXDOMAIN for the cluster domain, like the kubernetes plugin
// does for names of no Service.
var standIn = fmt.Sprintf(`    template IN A %[1]s {
        answer "{{ .Name }} 60 IN A %[2]s"
    }
    template IN AAAA %[1]s {
        answer "{{ .Name }} 60 IN AAAA %[3]s"
    }
    template IN HTTPS %[1]s {
        answer "{{ .Name }} 60 IN HTTPS 1 . alpn=h2 ipv4hint=%[2]s ipv6hint=%[3]s"
    }
    template IN SVCB %[1]s {
        answer "{{ .Name }} 60 IN SVCB 1 . alpn=h2 ipv4hint=%[2]s ipv6hint=%[3]s"
    }
    template ANY ANY cluster.local {
        rcode NXDOMAIN
    }`, ExternalDomain, UpstreamIPv4, UpstreamIPv6)

// startCoreDNS starts CoreDNS with the plugin, the stand-in for the
// internet and the prometheus plugin on a free loopback port (DNSMetrics),
// and returns its address.
func (h *Harness) startCoreDNS(ctx context.Context) (string, error) {
	port, err := supervisor.FreePort()
	if err != nil {
		return "", fmt.Errorf("start CoreDNS: a port for its metrics: %w", err)
	}
	h.DNSMetrics = fmt.Sprintf("127.0.0.1:%d", port)
	addr, err := h.Cluster.StartCoreDNS(ctx, standIn+"\n    prometheus "+h.DNSMetrics)
	if err != nil {
		return "", fmt.Errorf("start CoreDNS: %w", err)
	}
	return addr, nil
}
