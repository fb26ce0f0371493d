package istioimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1alpha2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
	gwapiv1alpha3 "sigs.k8s.io/gateway-api/apis/v1alpha3"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// API groups read here.
const (
	istioGroup      = "networking.istio.io"
	gatewayAPIGroup = gwapiv1.GroupName
)

// defaultNamespace is where an object without metadata.namespace lands, as
// with `kubectl apply` in the default context.
const defaultNamespace = "default"

// inputs are the objects egressctl import understands, decoded into their
// Go types. Every served version of a kind is converted to one type.
type inputs struct {
	serviceEntries   []*istionetworking.ServiceEntry
	istioGateways    []*istionetworking.Gateway
	virtualServices  []*istionetworking.VirtualService
	destinationRules []*istionetworking.DestinationRule
	sidecars         []*istionetworking.Sidecar

	gateways   []*gwapiv1.Gateway
	tlsRoutes  []*gwapiv1.TLSRoute
	tcpRoutes  []*gwapiv1.TCPRoute
	httpRoutes []*gwapiv1.HTTPRoute

	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	networkPolicies []*networkingv1.NetworkPolicy

	// all is every input object in input order; unread are the ones of a
	// kind this package does not read, with why.
	all    []ObjectRef
	unread map[ObjectRef]unreadKind
	// generated maps the objects egressgate generated (by their
	// app.kubernetes.io/managed-by and egress.monzo.com/external-service
	// labels) to the name of their ExternalService.
	generated map[ObjectRef]string
}

// unreadKind says why an object was not read.
type unreadKind struct {
	// egress is true for kinds of Istio's and Gateway API's groups: they
	// may carry egress behaviour, so the report counts them as not carried
	// over. Other kinds (Deployments, ...) are merely ignored.
	egress bool
	why    string
}

// decode reads every object into inputs. It returns every decoding error,
// joined, each naming the file and object.
func decode(objects []Object) (*inputs, error) {
	in := &inputs{unread: map[ObjectRef]unreadKind{}, generated: map[ObjectRef]string{}}
	readers := in.readers()
	var errs []error
	for _, o := range objects {
		if err := in.add(o, readers); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Source, err))
		}
	}
	return in, errors.Join(errs...)
}

type reader func(raw []byte) (objectMeta, error)

// objectMeta is the part of a decoded object decode needs back.
type objectMeta interface {
	GetNamespace() string
	SetNamespace(string)
	GetName() string
	GetLabels() map[string]string
}

// readers maps every group, version and kind read here to its decoder.
func (in *inputs) readers() map[schema.GroupVersionKind]reader {
	r := map[schema.GroupVersionKind]reader{}
	// Istio serves v1, v1beta1 and v1alpha3 with one schema (istio.io/api's
	// v1alpha3 messages), so every version decodes into the v1 Go type.
	for _, v := range []string{"v1", "v1beta1", "v1alpha3"} {
		r[gvk(istioGroup, v, "ServiceEntry")] = decodeInto(&in.serviceEntries)
		r[gvk(istioGroup, v, "Gateway")] = decodeInto(&in.istioGateways)
		r[gvk(istioGroup, v, "VirtualService")] = decodeInto(&in.virtualServices)
		r[gvk(istioGroup, v, "DestinationRule")] = decodeInto(&in.destinationRules)
		r[gvk(istioGroup, v, "Sidecar")] = decodeInto(&in.sidecars)
	}

	// Gateway API: every version gateway-api v1.6.3 serves. v1beta1 and
	// v1alpha3 types are defined as the v1 types; v1alpha2 routes differ
	// only in Go type names and are converted field by field.
	r[gvk(gatewayAPIGroup, "v1", "Gateway")] = decodeInto(&in.gateways)
	r[gvk(gatewayAPIGroup, "v1beta1", "Gateway")] = decodeConverted(&in.gateways,
		func(g *gwapiv1beta1.Gateway) *gwapiv1.Gateway { return (*gwapiv1.Gateway)(g) })
	r[gvk(gatewayAPIGroup, "v1", "HTTPRoute")] = decodeInto(&in.httpRoutes)
	r[gvk(gatewayAPIGroup, "v1beta1", "HTTPRoute")] = decodeConverted(&in.httpRoutes,
		func(h *gwapiv1beta1.HTTPRoute) *gwapiv1.HTTPRoute { return (*gwapiv1.HTTPRoute)(h) })
	r[gvk(gatewayAPIGroup, "v1", "TLSRoute")] = decodeInto(&in.tlsRoutes)
	r[gvk(gatewayAPIGroup, "v1alpha3", "TLSRoute")] = decodeConverted(&in.tlsRoutes,
		func(t *gwapiv1alpha3.TLSRoute) *gwapiv1.TLSRoute { return (*gwapiv1.TLSRoute)(t) })
	r[gvk(gatewayAPIGroup, "v1alpha2", "TLSRoute")] = decodeConverted(&in.tlsRoutes, tlsRouteFromV1alpha2)
	r[gvk(gatewayAPIGroup, "v1", "TCPRoute")] = decodeInto(&in.tcpRoutes)
	r[gvk(gatewayAPIGroup, "v1alpha2", "TCPRoute")] = decodeConverted(&in.tcpRoutes, tcpRouteFromV1alpha2)

	r[gvk("", "v1", "Service")] = decodeInto(&in.services)
	r[gvk("", "v1", "ConfigMap")] = decodeInto(&in.configMaps)
	r[gvk("networking.k8s.io", "v1", "NetworkPolicy")] = decodeInto(&in.networkPolicies)
	return r
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

// decodeInto decodes into a new T and appends it to list.
func decodeInto[T any, PT interface {
	*T
	objectMeta
}](list *[]PT) reader {
	return func(raw []byte) (objectMeta, error) {
		obj := PT(new(T))
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, err
		}
		*list = append(*list, obj)
		return obj, nil
	}
}

// decodeConverted decodes into From, converts to To and appends it.
func decodeConverted[From any, To any, PTo interface {
	*To
	objectMeta
}](list *[]PTo, convert func(*From) *To) reader {
	return func(raw []byte) (objectMeta, error) {
		from := new(From)
		if err := json.Unmarshal(raw, from); err != nil {
			return nil, err
		}
		obj := PTo(convert(from))
		*list = append(*list, obj)
		return obj, nil
	}
}

func tlsRouteFromV1alpha2(r *gwapiv1alpha2.TLSRoute) *gwapiv1.TLSRoute {
	out := &gwapiv1.TLSRoute{TypeMeta: r.TypeMeta, ObjectMeta: r.ObjectMeta}
	out.Spec.CommonRouteSpec = r.Spec.CommonRouteSpec
	out.Spec.Hostnames = r.Spec.Hostnames
	for _, rule := range r.Spec.Rules {
		out.Spec.Rules = append(out.Spec.Rules, gwapiv1.TLSRouteRule(rule))
	}
	return out
}

func tcpRouteFromV1alpha2(r *gwapiv1alpha2.TCPRoute) *gwapiv1.TCPRoute {
	out := &gwapiv1.TCPRoute{TypeMeta: r.TypeMeta, ObjectMeta: r.ObjectMeta}
	out.Spec.CommonRouteSpec = r.Spec.CommonRouteSpec
	for _, rule := range r.Spec.Rules {
		out.Spec.Rules = append(out.Spec.Rules, gwapiv1.TCPRouteRule(rule))
	}
	return out
}

// ignoredGroupKinds are kinds of the egress-related groups that carry no
// egress behaviour of their own.
var ignoredGroupKinds = map[schema.GroupKind]string{
	{Group: gatewayAPIGroup, Kind: "GatewayClass"}:   "a GatewayClass is cluster infrastructure, not egress configuration",
	{Group: gatewayAPIGroup, Kind: "ReferenceGrant"}: "a ReferenceGrant only permits references; the ExternalServices need none",
}

// add decodes one object, or records why it is not read.
func (in *inputs) add(o Object, readers map[schema.GroupVersionKind]reader) error {
	apiVersion, _ := o.Doc["apiVersion"].(string)
	kind, _ := o.Doc["kind"].(string)
	if apiVersion == "" || kind == "" {
		return errors.New("an object has no apiVersion or kind: every document must be a Kubernetes object")
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	ref := ObjectRef{Group: gv.Group, Kind: kind, Namespace: defaultNamespace}
	if md, ok := o.Doc["metadata"].(map[string]any); ok {
		ref.Name, _ = md["name"].(string)
		if ns, _ := md["namespace"].(string); ns != "" {
			ref.Namespace = ns
		}
	}

	read, known := readers[gv.WithKind(kind)]
	if !known {
		return in.addUnread(gv.WithKind(kind), ref, readers)
	}
	raw, err := json.Marshal(o.Doc)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	obj, err := read(raw)
	if err != nil {
		return fmt.Errorf("%s: decode %s: %w", ref, apiVersion, err)
	}
	if obj.GetName() == "" {
		return fmt.Errorf("%s %s has no metadata.name: give it one", apiVersion, kind)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(defaultNamespace)
	}
	in.all = append(in.all, ref)
	if labels := obj.GetLabels(); labels[egressv1.LabelManagedBy] == egressv1.ManagedByValue && labels[egressv1.LabelExternalService] != "" {
		in.generated[ref] = labels[egressv1.LabelExternalService]
	}
	return nil
}

// addUnread records an object of a kind not read here. A known kind in a
// version that is not served is an error: the input would not apply either.
func (in *inputs) addUnread(k schema.GroupVersionKind, ref ObjectRef, readers map[schema.GroupVersionKind]reader) error {
	var served []string
	for r := range readers {
		if r.GroupKind() == k.GroupKind() {
			served = append(served, r.Version)
		}
	}
	if len(served) > 0 {
		sort.Strings(served)
		return fmt.Errorf("%s: %s is not a served version of %s: use %s",
			ref, k.GroupVersion(), k.Kind, strings.Join(served, ", "))
	}
	if ref.Name == "" {
		return fmt.Errorf("%s %s has no metadata.name: give it one", k.GroupVersion(), k.Kind)
	}
	in.all = append(in.all, ref)
	switch {
	case ignoredGroupKinds[k.GroupKind()] != "":
		in.unread[ref] = unreadKind{why: ignoredGroupKinds[k.GroupKind()]}
	case k.Group == "egress.monzo.com":
		in.unread[ref] = unreadKind{why: "already an egressgate object"}
	case strings.HasSuffix(k.Group, "istio.io") || k.Group == gatewayAPIGroup:
		in.unread[ref] = unreadKind{egress: true, why: fmt.Sprintf("egressctl import does not read %s %s objects: review what it does by hand", k.GroupVersion(), k.Kind)}
	default:
		in.unread[ref] = unreadKind{why: "not egress configuration"}
	}
	return nil
}
