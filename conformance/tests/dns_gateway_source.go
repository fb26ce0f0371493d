package tests

import (
	"testing"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSGatewayPodGetsRealAnswer",
		Description: "A query sent from a gateway pod's own IP gets the upstream answer, so the gateway can reach the real host while its clients are hijacked.",
		Features:    []suite.Feature{suite.FeatureDNSQueryFromPodIP, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSGatewaySource,
	})
}

func testDNSGatewaySource(t *testing.T, s *suite.Suite) {
	const name = "dns-gateway-source"
	es := readManifest(t, s, "manifests/dns-gateway-source.yaml").externalService(name)
	host := es.Spec.DnsName
	upstream := upstreamA(t, s, host)
	s.Create(t, es)
	s.WaitProgrammed(t, name)
	waitA(t, s, "clients are hijacked", host, "", ipv4(s.GatewayService(t, name).Spec.ClusterIPs))
	for _, pod := range s.GatewayPods(t, name) {
		waitA(t, s, "the gateway pod "+pod.Name+" gets the upstream answer", host, pod.Status.PodIP, upstream)
	}
}
