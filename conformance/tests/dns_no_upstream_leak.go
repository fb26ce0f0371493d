package tests

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSNoUpstreamAddressLeaks",
		Description: "For a hijacked name, AAAA, HTTPS, SVCB and ANY answers never carry an upstream address (no AAAA record, no ipv4hint or ipv6hint), so no client can bypass the gateway.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSNoLeak,
	})
}

func testDNSNoLeak(t *testing.T, s *suite.Suite) {
	const name = "dns-noleak"
	es := readManifest(t, s, "manifests/dns-no-upstream-leak.yaml").externalService(name)
	host := es.Spec.DnsName
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeANY}
	upstream := map[uint16][]string{}
	for _, qt := range types {
		r, err := s.Query(host, qt, "")
		if err != nil {
			t.Fatal(err)
		}
		upstream[qt] = answerAddresses(r)
		t.Logf("before: %s %s carries %v", dns.TypeToString[qt], host, upstream[qt])
	}
	s.Create(t, es)
	s.WaitProgrammed(t, name)
	gateway := s.GatewayService(t, name).Spec.ClusterIPs
	waitA(t, s, "the name is hijacked", host, "", ipv4(gateway))

	for _, qt := range types {
		t.Run(dns.TypeToString[qt], func(t *testing.T) {
			r, err := s.Query(host, qt, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess {
				t.Errorf("rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
			}
			for _, ip := range answerAddresses(r) {
				if !slices.Contains(gateway, ip) {
					t.Errorf("the answer carries %s, not a gateway address %v:\n%s", ip, gateway, r)
				}
			}
			if qt == dns.TypeA && len(answerAddresses(r)) == 0 {
				t.Errorf("no A record")
			}
		})
	}
	if len(upstream[dns.TypeAAAA]) == 0 || len(upstream[dns.TypeHTTPS]) == 0 {
		t.Logf("note: upstream had no AAAA (%v) or HTTPS (%v) addresses for %s, so those checks were weaker", upstream[dns.TypeAAAA], upstream[dns.TypeHTTPS], host)
	}
}
