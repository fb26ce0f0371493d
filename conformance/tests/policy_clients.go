package tests

import (
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "PolicyOnlyLabelledClientsReachGateway",
		Description: "Pods labelled egress.monzo.com/allowed-<name>, in any namespace, reach that gateway's pods on each listener port and no other; unlabelled pods and pods labelled for another gateway do not.",
		Features:    []suite.Feature{suite.FeatureNetworkPolicy, suite.FeatureExternalService},
		Manifests:   []string{"manifests/policy-clients.yaml"},
		Test:        testPolicyClients,
	})
}

func testPolicyClients(t *testing.T, s *suite.Suite) {
	const name = "policy-gw"
	s.WaitProgrammed(t, name)
	gateways := gatewayPeers(t, s, name)
	allowed := []*matcher.TrafficPeer{podPeer(t, s, "conformance-policy-a", "allowed"), podPeer(t, s, "conformance-policy-b", "allowed")}
	denied := []*matcher.TrafficPeer{podPeer(t, s, "conformance-policy-a", "unlabelled"), podPeer(t, s, "conformance-policy-a", "other-gateway")}
	policy := clusterPolicy(t, s)
	for _, gw := range gateways {
		for _, client := range allowed {
			for _, port := range []int{443, 22} {
				expectTraffic(t, policy, client, gw, port, corev1.ProtocolTCP, true)
			}
			for _, port := range notListenerPorts {
				expectTraffic(t, policy, client, gw, port, corev1.ProtocolTCP, false)
			}
			expectTraffic(t, policy, client, gw, 443, corev1.ProtocolUDP, false)
		}
		for _, client := range denied {
			for _, port := range []int{443, 22} {
				expectTraffic(t, policy, client, gw, port, corev1.ProtocolTCP, false)
			}
		}
	}
}
