package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "PolicyGatewayEgressOnlyPublicListenerPorts",
		Description: "Gateway pods reach public IPv4 and IPv6 addresses only on their listener ports, reach cluster DNS, and never reach private, loopback, link-local or metadata addresses.",
		Features:    []suite.Feature{suite.FeatureNetworkPolicy, suite.FeatureExternalService},
		Manifests:   []string{"manifests/policy-gateway-egress.yaml"},
		Test:        testPolicyGatewayEgress,
	})
}

func testPolicyGatewayEgress(t *testing.T, s *suite.Suite) {
	const name = "policy-egress"
	s.WaitProgrammed(t, name)
	gateways := gatewayPeers(t, s, name)
	dns := dnsPeers(t, s)
	policy := clusterPolicy(t, s)
	for _, gw := range gateways {
		for _, ip := range publicIPs {
			for _, port := range []int{443, 22} {
				expectTraffic(t, policy, gw, externalPeer(ip), port, corev1.ProtocolTCP, true)
			}
			for _, port := range []int{80, 25, 3306, 8443} {
				expectTraffic(t, policy, gw, externalPeer(ip), port, corev1.ProtocolTCP, false)
			}
		}
		for _, ip := range forbiddenIPs {
			for _, port := range []int{443, 22} {
				expectTraffic(t, policy, gw, externalPeer(ip), port, corev1.ProtocolTCP, false)
			}
		}
		for _, d := range dns {
			expectTraffic(t, policy, gw, d, 53, corev1.ProtocolUDP, true)
		}
	}
}
