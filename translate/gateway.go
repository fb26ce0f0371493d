package translate

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Istio annotations on the Gateway.
const (
	// AnnotationServiceType keeps the gateway Service internal.
	AnnotationServiceType = "networking.istio.io/service-type"
	// AnnotationLogLevel is the gateway proxy's log level.
	AnnotationLogLevel = "sidecar.istio.io/logLevel"
)

// listenerName is the Gateway listener, and route sectionName, of one port.
func listenerName(p egressv1.ExternalServicePort) gwapiv1.SectionName {
	if *p.Protocol == egressv1.ProtocolTLS {
		return gwapiv1.SectionName(fmt.Sprintf("tls-%d", p.Port))
	}
	return gwapiv1.SectionName(fmt.Sprintf("tcp-%d", p.Port))
}

// gateway has one listener per TCP or TLS port. TLS listeners pass the
// connection through and only for SNI equal to dnsName.
func (t *translation) gateway() *gwapiv1.Gateway {
	gw := &gwapiv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "Gateway"},
		ObjectMeta: t.meta(t.es.Name),
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: gwapiv1.ObjectName(t.opts.GatewayClassName),
			Infrastructure: &gwapiv1.GatewayInfrastructure{
				Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{
					egressv1.LabelApp:     egressv1.AppValue,
					egressv1.LabelGateway: gwapiv1.LabelValue(t.es.Name),
				},
				ParametersRef: &gwapiv1.LocalParametersReference{
					Group: "", Kind: "ConfigMap", Name: egressv1.OptionsConfigMapName(t.es.Name),
				},
			},
		},
	}
	gw.Annotations = map[string]string{AnnotationServiceType: "ClusterIP"}
	if t.spec.EnvoyLogLevel != "" {
		gw.Annotations[AnnotationLogLevel] = t.spec.EnvoyLogLevel
	}
	same := gwapiv1.NamespacesFromSame
	for _, p := range t.proxiedPorts() {
		l := gwapiv1.Listener{
			Name:          listenerName(p),
			Port:          gwapiv1.PortNumber(p.Port),
			AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &same}},
		}
		if *p.Protocol == egressv1.ProtocolTLS {
			l.Protocol = gwapiv1.TLSProtocolType
			l.Hostname = new(gwapiv1.Hostname(t.spec.DnsName))
			l.TLS = &gwapiv1.ListenerTLSConfig{Mode: new(gwapiv1.TLSModePassthrough)}
			l.AllowedRoutes.Kinds = []gwapiv1.RouteGroupKind{{Group: new(gwapiv1.Group(gwapiv1.GroupName)), Kind: "TLSRoute"}}
		} else {
			l.Protocol = gwapiv1.TCPProtocolType
			l.AllowedRoutes.Kinds = []gwapiv1.RouteGroupKind{{Group: new(gwapiv1.Group(gwapiv1.GroupName)), Kind: "TCPRoute"}}
		}
		gw.Spec.Listeners = append(gw.Spec.Listeners, l)
	}
	return gw
}

// routes has one route per listener: TLSRoute for TLS, TCPRoute for TCP,
// both sending to the external host through Istio's Hostname backend.
func (t *translation) routes() []client.Object {
	var routes []client.Object
	for _, p := range t.proxiedPorts() {
		parent := gwapiv1.ParentReference{Name: gwapiv1.ObjectName(t.es.Name), SectionName: new(listenerName(p))}
		backend := gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{
			Group: new(gwapiv1.Group("networking.istio.io")),
			Kind:  new(gwapiv1.Kind("Hostname")),
			Name:  gwapiv1.ObjectName(t.spec.DnsName),
			Port:  new(gwapiv1.PortNumber(p.Port)),
		}}
		common := gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{parent}}
		meta := t.meta(egressv1.RouteName(t.es.Name, p.Port))
		if *p.Protocol == egressv1.ProtocolTLS {
			routes = append(routes, &gwapiv1.TLSRoute{
				TypeMeta:   metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "TLSRoute"},
				ObjectMeta: meta,
				Spec: gwapiv1.TLSRouteSpec{
					CommonRouteSpec: common,
					Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(t.spec.DnsName)},
					Rules:           []gwapiv1.TLSRouteRule{{BackendRefs: []gwapiv1.BackendRef{backend}}},
				},
			})
			continue
		}
		routes = append(routes, &gwapiv1.TCPRoute{
			TypeMeta:   metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "TCPRoute"},
			ObjectMeta: meta,
			Spec: gwapiv1.TCPRouteSpec{
				CommonRouteSpec: common,
				Rules:           []gwapiv1.TCPRouteRule{{BackendRefs: []gwapiv1.BackendRef{backend}}},
			},
		})
	}
	return routes
}
