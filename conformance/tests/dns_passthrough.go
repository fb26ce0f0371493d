package tests

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSUnmanagedNamesPassThrough",
		Description: "Names no ExternalService hijacks get exactly the upstream answer for A, AAAA and HTTPS while another name is hijacked.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSPassThrough,
	})
}

func testDNSPassThrough(t *testing.T, s *suite.Suite) {
	const name = "dns-managed"
	es := readManifest(t, s, "manifests/dns-passthrough.yaml").externalService(name)
	managed, unmanaged := es.Spec.DnsName, s.ExternalName("dns-unmanaged")
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS}
	before := map[uint16][]string{}
	for _, qt := range types {
		r, err := s.Query(unmanaged, qt, "")
		if err != nil {
			t.Fatal(err)
		}
		before[qt] = suite.Sorted(answerAddresses(r))
	}
	s.Create(t, es)
	s.WaitProgrammed(t, name)
	waitA(t, s, "the managed name is hijacked", managed, "", ipv4(s.GatewayService(t, name).Spec.ClusterIPs))
	for _, qt := range types {
		r, err := s.Query(unmanaged, qt, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := suite.Sorted(answerAddresses(r)); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, before[qt]) {
			t.Errorf("%s %s = %v (%s), want the upstream %v", dns.TypeToString[qt], unmanaged, got, dns.RcodeToString[r.Rcode], before[qt])
		}
	}
}
