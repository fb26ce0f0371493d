package tests

import (
	"fmt"
	"strings"
	"testing"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName: "EnvoyConfigGeneratedCases",
		Description: "The same checks as EnvoyConfigSamples on generated ExternalServices that cover every protocol mix (TLS, TCP, UDP alone and on a TCP port's number), " +
			"privileged and high ports, one to six ports, DNS resolution and ipOverride of one (IPv4 or IPv6), two (IPv4 and IPv6) and sixteen addresses, and no, a small and a capped connection limit.",
		Features: []suite.Feature{suite.FeatureGatewayEnvoyConfig, suite.FeatureIstioGateway, suite.FeatureExternalService},
		Test:     testEnvoyConfigGenerated,
	})
}

// envoyCase is one generated ExternalService.
type envoyCase struct {
	ports      string // "443/TLS 22/TCP 53/UDP"
	ipOverride []string
	maxConns   int64 // 0: unset
}

// envoyCases are the generated cases: eight, so the test stays well
// within a minute. Rather than drawing at random, each dimension's values
// are spread over the cases so every value appears at least once, and TLS
// only, TCP only and TLS with TCP each meet both DNS and ipOverride:
//
//	protocol mix:    TLS only, TCP only, TLS+TCP, TLS+TCP+UDP, TCP and UDP on one number, two TLS ports
//	port numbers:    1 (lowest), 22, 25, 53, 443 (privileged: no listener may be dropped), 1024, 8443, 65535 (highest)
//	port count:      1, 2, 3 and 6
//	resolution:      DNS; ipOverride of 1 IPv4, 1 IPv6, 1 IPv4 + 1 IPv6, 16 IPv4 (the most allowed)
//	max connections: unset, 1, 64, 4294967295 (above Istio's int32 limit: capped)
func envoyCases() []envoyCase {
	sixteen := make([]string, 16)
	for i := range sixteen {
		sixteen[i] = fmt.Sprintf("203.0.113.%d", 100+i)
	}
	return []envoyCase{
		{ports: "443/TLS"},
		{ports: "1/TCP", ipOverride: []string{"203.0.113.30"}, maxConns: 1},
		{ports: "8443/TLS 65535/TCP", ipOverride: []string{"203.0.113.31", "2001:db8::31"}, maxConns: 4294967295},
		{ports: "443/TLS 22/TCP 53/UDP", maxConns: 64},
		{ports: "53/TCP 53/UDP"},
		{ports: "1024/TLS 443/TLS", ipOverride: sixteen, maxConns: 64},
		{ports: "443/TLS 22/TCP 25/TCP 8443/TLS 1024/TCP 65535/TLS", maxConns: 1},
		{ports: "25/TCP 443/TLS", ipOverride: []string{"2001:db8::33"}},
	}
}

func testEnvoyConfigGenerated(t *testing.T, s *suite.Suite) {
	addr := xdsAddr(t, s)
	tmpl := readManifest(t, s, "manifests/envoy-config-generated.yaml").externalService("envoy-gen")
	var names []string
	for i, c := range envoyCases() {
		es := tmpl.DeepCopy()
		es.Name = fmt.Sprintf("%s-%d", tmpl.Name, i+1)
		es.Spec.DnsName = fmt.Sprintf("%d.%s", i+1, tmpl.Spec.DnsName)
		es.Spec.Ports = nil
		for _, p := range strings.Fields(c.ports) {
			var port int32
			var proto string
			if _, err := fmt.Sscanf(strings.Replace(p, "/", " ", 1), "%d %s", &port, &proto); err != nil {
				t.Fatalf("case %d: port %q: %v", i+1, p, err)
			}
			es.Spec.Ports = append(es.Spec.Ports, egressv1.ExternalServicePort{Port: port, Protocol: new(egressv1.Protocol(proto))})
		}
		es.Spec.IpOverride = c.ipOverride
		if c.maxConns > 0 {
			es.Spec.EnvoyClusterMaxConnections = new(c.maxConns)
		}
		s.Create(t, es)
		names = append(names, es.Name)
		t.Logf("case %s: %s %s ipOverride %v envoyClusterMaxConnections %d", es.Name, es.Spec.DnsName, c.ports, c.ipOverride, c.maxConns)
	}
	for _, name := range names {
		s.WaitProgrammed(t, name)
		watchGateway(t, s, addr, name).expect(t, "generated case "+name, wantFor(t, s, name))
	}
}
