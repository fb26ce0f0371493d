package tests

import (
	"testing"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSFollowsUpdatesAndDeletes",
		Description: "Turning hijackDns off gives the upstream answer back, turning it on hijacks again, and deleting the ExternalService restores the upstream answer.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSFollows,
	})
}

func testDNSFollows(t *testing.T, s *suite.Suite) {
	const name = "dns-follows"
	es := readManifest(t, s, "manifests/dns-follows-updates.yaml").externalService(name)
	host := es.Spec.DnsName
	upstream := upstreamA(t, s, host)
	s.Create(t, es)
	s.WaitProgrammed(t, name)
	gateway := ipv4(s.GatewayService(t, name).Spec.ClusterIPs)
	waitA(t, s, "hijacked", host, "", gateway)

	setHijack := func(on bool) {
		s.UpdateExternalService(t, name, func(es *egressv1.ExternalService) { es.Spec.HijackDns = on })
	}
	setHijack(false)
	waitA(t, s, "hijackDns off: upstream again", host, "", upstream)
	setHijack(true)
	waitA(t, s, "hijackDns on: hijacked again", host, "", gateway)
	s.DeleteAndWait(t, es)
	waitA(t, s, "deleted: upstream again", host, "", upstream)
}
