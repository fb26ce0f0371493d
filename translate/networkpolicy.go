package translate

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Ports of the gateway pod that Prometheus scrapes: the merged agent and
// Envoy metrics, and Envoy's own.
var metricsPorts = []int32{15020, 15090}

// istiodXDSPort is where gateway pods fetch their configuration.
const istiodXDSPort = 15012

// gatewayPodSelector selects the pods Istio runs for this ExternalService's
// Gateway.
func (t *translation) gatewayPodSelector() metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{egressv1.LabelGatewayName: t.es.Name}}
}

// ingressPolicy admits only labelled clients, from any namespace, on the
// listener ports, plus metrics scraping from one namespace.
func (t *translation) ingressPolicy() *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: t.meta(egressv1.IngressPolicyName(t.es.Name)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: t.gatewayPodSelector(),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{egressv1.AllowedLabel(t.es.Name): "true"}},
				}},
				Ports: tcpPorts(t.listenerPortNumbers()...),
			}},
		},
	}
	if ns := t.opts.MetricsNamespace; ns != "" {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespaceSelector(ns)}},
			Ports: tcpPorts(metricsPorts...),
		})
	}
	return np
}

// egressPolicy lets gateway pods reach only public addresses on the listener
// ports (or the ipOverride addresses, when private ones are allowed), cluster
// DNS, and istiod.
func (t *translation) egressPolicy() *networkingv1.NetworkPolicy {
	upstream := []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: nonPublicV4}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: nonPublicV6}},
	}
	if t.opts.AllowPrivateIPOverride {
		for _, ip := range t.spec.IpOverride {
			if nonPublic(ip) != "" {
				upstream = append(upstream, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: hostPrefix(ip)}})
			}
		}
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dnsPort := intstr.FromInt32(53)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: t.meta(egressv1.EgressPolicyName(t.es.Name)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: t.gatewayPodSelector(),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: upstream, Ports: tcpPorts(t.listenerPortNumbers()...)},
				{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: namespaceSelector(t.opts.DNSNamespace),
						PodSelector:       &metav1.LabelSelector{MatchLabels: t.opts.DNSSelector},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dnsPort}, {Protocol: &tcp, Port: &dnsPort}},
				},
				{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: namespaceSelector(t.opts.IstiodNamespace),
						PodSelector:       &metav1.LabelSelector{MatchLabels: t.opts.IstiodSelector},
					}},
					Ports: tcpPorts(istiodXDSPort),
				},
			},
		},
	}
}

func (t *translation) listenerPortNumbers() []int32 {
	var ports []int32
	for _, p := range t.proxiedPorts() {
		ports = append(ports, p.Port)
	}
	return ports
}

func tcpPorts(numbers ...int32) []networkingv1.NetworkPolicyPort {
	ports := make([]networkingv1.NetworkPolicyPort, 0, len(numbers))
	for _, n := range numbers {
		ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: new(corev1.ProtocolTCP), Port: new(intstr.FromInt32(n))})
	}
	return ports
}

func namespaceSelector(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: name}}
}

// hostPrefix is the single-address CIDR of ip.
func hostPrefix(ip string) string {
	if isIPv6(ip) {
		return ip + "/128"
	}
	return ip + "/32"
}
