package tests

import (
	"testing"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSHijackAnswersGateway",
		Description: "Once Programmed, a hijacked dnsName's A records are the gateway Service's ClusterIPs, from the cluster's DNS server.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSHijack,
	})
}

func testDNSHijack(t *testing.T, s *suite.Suite) {
	const name = "dns-hijack"
	created := readManifest(t, s, "manifests/dns-hijack.yaml").externalService(name)
	host := created.Spec.DnsName
	upstream := upstreamA(t, s, host)
	s.Create(t, created)
	es := s.WaitProgrammed(t, name)
	gateway := ipv4(s.GatewayService(t, name).Spec.ClusterIPs)
	waitA(t, s, "the DNS server answers the gateway's ClusterIP", host, "", gateway)
	if len(ipv4(es.Status.Addresses)) == 0 {
		t.Errorf("status.addresses %v has no IPv4 address", es.Status.Addresses)
	}
	for _, ip := range upstream {
		for _, g := range gateway {
			if ip == g {
				t.Fatalf("the upstream address %s equals the gateway's: the test proves nothing", ip)
			}
		}
	}
}
