package translate

import (
	"net/netip"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// serviceEntry lets the gateway's Envoy resolve and reach the external host:
// by DNS, or at the fixed ipOverride addresses.
func (t *translation) serviceEntry() *istionetworking.ServiceEntry {
	se := &istionetworking.ServiceEntry{
		TypeMeta:   metav1.TypeMeta{APIVersion: istionetworking.SchemeGroupVersion.String(), Kind: "ServiceEntry"},
		ObjectMeta: t.meta(t.es.Name),
		Spec: istioapi.ServiceEntry{
			Hosts:      []string{t.spec.DnsName},
			Location:   istioapi.ServiceEntry_MESH_EXTERNAL,
			ExportTo:   []string{"."},
			Resolution: istioapi.ServiceEntry_DNS,
		},
	}
	for _, p := range t.proxiedPorts() {
		se.Spec.Ports = append(se.Spec.Ports, &istioapi.ServicePort{
			Number:   uint32(p.Port),
			Protocol: string(*p.Protocol),
			Name:     string(listenerName(p)),
		})
	}
	if len(t.spec.IpOverride) > 0 {
		se.Spec.Resolution = istioapi.ServiceEntry_STATIC
		for _, ip := range t.spec.IpOverride {
			se.Spec.Endpoints = append(se.Spec.Endpoints, &istioapi.WorkloadEntry{Address: ip})
		}
	}
	return se
}

// destinationRule carries envoyClusterMaxConnections as a connection pool;
// it exists only when that field is set.
func (t *translation) destinationRule() *istionetworking.DestinationRule {
	max := t.spec.EnvoyClusterMaxConnections
	if max == nil {
		return nil
	}
	return &istionetworking.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: istionetworking.SchemeGroupVersion.String(), Kind: "DestinationRule"},
		ObjectMeta: t.meta(t.es.Name),
		Spec: istioapi.DestinationRule{
			Host:     t.spec.DnsName,
			ExportTo: []string{"."},
			TrafficPolicy: &istioapi.TrafficPolicy{ConnectionPool: &istioapi.ConnectionPoolSettings{
				Tcp: &istioapi.ConnectionPoolSettings_TCPSettings{MaxConnections: int32(min(*max, maxInt32))},
			}},
		},
	}
}

func isIPv6(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	return err == nil && addr.Is6() && !addr.Is4In6()
}
