package tests

import (
	"context"
	"fmt"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/suite"
)

// The policy tests evaluate the cluster's real NetworkPolicies with
// cyclonus' matcher, an engine independent of egressgate, over real pods.

// Addresses outside the cluster the policy tests aim at: a public IPv4
// and IPv6 address, and the private, link-local and metadata addresses a
// gateway must never reach.
var (
	publicIPs    = []string{"140.82.112.3", "2606:4700:4700::1111"}
	forbiddenIPs = []string{"10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "fd00::1", "fe80::1"}
	// notListenerPorts are ports a gateway has but clients must not reach:
	// plain HTTP, Envoy admin, Istio's status, health and metrics ports.
	notListenerPorts = []int{80, 8080, 8443, 15000, 15020, 15021, 15090}
)

// clusterPolicy builds the matcher from every NetworkPolicy in the cluster.
func clusterPolicy(t *testing.T, s *suite.Suite) *matcher.Policy {
	t.Helper()
	var list networkingv1.NetworkPolicyList
	if err := s.Client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var nps []*networkingv1.NetworkPolicy
	for i := range list.Items {
		nps = append(nps, &list.Items[i])
	}
	return matcher.BuildNetworkPolicies(true, nps)
}

// podPeer describes a running pod as cyclonus sees it.
func podPeer(t *testing.T, s *suite.Suite, namespace, name string) *matcher.TrafficPeer {
	t.Helper()
	pod := &corev1.Pod{}
	s.Eventually(t, "pod "+namespace+"/"+name+" has an IP", s.Timeouts.Programmed, func() error {
		if err := s.Client.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, pod); err != nil {
			return err
		}
		if pod.Status.PodIP == "" {
			return fmt.Errorf("no IP yet (phase %s)", pod.Status.Phase)
		}
		return nil
	})
	return peerOf(t, s, pod)
}

func peerOf(t *testing.T, s *suite.Suite, pod *corev1.Pod) *matcher.TrafficPeer {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := s.Client.Get(context.Background(), types.NamespacedName{Name: pod.Namespace}, ns); err != nil {
		t.Fatal(err)
	}
	return &matcher.TrafficPeer{
		IP:       pod.Status.PodIP,
		Internal: &matcher.InternalPeer{PodLabels: pod.Labels, NamespaceLabels: ns.Labels, Namespace: pod.Namespace},
	}
}

// gatewayPeers are the gateway's pods.
func gatewayPeers(t *testing.T, s *suite.Suite, name string) []*matcher.TrafficPeer {
	t.Helper()
	var peers []*matcher.TrafficPeer
	for _, p := range s.GatewayPods(t, name) {
		peers = append(peers, peerOf(t, s, &p))
	}
	return peers
}

// dnsPeers are the cluster DNS pods (label k8s-app=kube-dns). A cluster
// whose DNS server is not a pod (the embedded one) gets a peer with the
// labels such a pod has, which is what every policy selects on.
func dnsPeers(t *testing.T, s *suite.Suite) []*matcher.TrafficPeer {
	t.Helper()
	var pods corev1.PodList
	if err := s.Client.List(context.Background(), &pods, client.InNamespace(s.DNSNamespace), client.MatchingLabels{"k8s-app": "kube-dns"}); err != nil {
		t.Fatal(err)
	}
	var peers []*matcher.TrafficPeer
	for i := range pods.Items {
		if pods.Items[i].Status.PodIP != "" {
			peers = append(peers, peerOf(t, s, &pods.Items[i]))
		}
	}
	if len(peers) == 0 {
		t.Logf("no DNS pod in %s: checking against a pod with the labels k8s-app=kube-dns", s.DNSNamespace)
		peers = append(peers, &matcher.TrafficPeer{IP: "198.18.250.53", Internal: &matcher.InternalPeer{
			PodLabels:       map[string]string{"k8s-app": "kube-dns"},
			NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": s.DNSNamespace},
			Namespace:       s.DNSNamespace,
		}})
	}
	return peers
}

func externalPeer(ip string) *matcher.TrafficPeer { return &matcher.TrafficPeer{IP: ip} }

// expectTraffic checks whether the policies allow from → to on port, in
// both directions (the source's egress and the destination's ingress).
func expectTraffic(t *testing.T, policy *matcher.Policy, from, to *matcher.TrafficPeer, port int, protocol corev1.Protocol, want bool) {
	t.Helper()
	traffic := &matcher.Traffic{Source: from, Destination: to, ResolvedPort: port, Protocol: protocol}
	res := policy.IsTrafficAllowed(traffic)
	if res.IsAllowed() != want {
		verb := "denied"
		if want {
			verb = "allowed"
		}
		t.Errorf("want %s→%s %d/%s %s, the policies say otherwise:\n%s%s", describe(from), describe(to), port, protocol, verb, traffic.Table(), res.Table())
	}
}

func describe(p *matcher.TrafficPeer) string {
	if p.Internal == nil {
		return p.IP
	}
	return fmt.Sprintf("%s/%v(%s)", p.Internal.Namespace, p.Internal.PodLabels, p.IP)
}
