package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "PolicyDefaultDenyWorkloads",
		Description: "A namespace locked down with config/examples/default-deny-egress.yaml cannot reach external IPs directly, and can reach cluster DNS and the gateways; a namespace without it is the control.",
		Features:    []suite.Feature{suite.FeatureNetworkPolicy, suite.FeatureExternalService},
		Manifests:   []string{"manifests/policy-default-deny.yaml"},
		Test:        testPolicyDefaultDeny,
	})
}

func testPolicyDefaultDeny(t *testing.T, s *suite.Suite) {
	const name, lockedDown = "policy-gw", "conformance-policy-a"
	s.Create(t, defaultDenyExample(t, lockedDown))
	s.WaitProgrammed(t, name)
	gateways := gatewayPeers(t, s, name)
	client := podPeer(t, s, lockedDown, "allowed")
	control := podPeer(t, s, "conformance-policy-b", "allowed")
	dns := dnsPeers(t, s)
	policy := clusterPolicy(t, s)

	for _, ip := range publicIPs {
		for _, port := range []int{443, 22} {
			expectTraffic(t, policy, client, externalPeer(ip), port, corev1.ProtocolTCP, false)
			expectTraffic(t, policy, control, externalPeer(ip), port, corev1.ProtocolTCP, true)
		}
	}
	for _, d := range dns {
		expectTraffic(t, policy, client, d, 53, corev1.ProtocolUDP, true)
		expectTraffic(t, policy, client, d, 53, corev1.ProtocolTCP, true)
	}
	for _, gw := range gateways {
		for _, port := range []int{443, 22} {
			expectTraffic(t, policy, client, gw, port, corev1.ProtocolTCP, true)
		}
	}
}
