package controllers

import (
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// childKind is one kind of object the operator generates.
type childKind struct {
	gvk schema.GroupVersionKind
	// optional kinds come from CRDs (Gateway API, Istio) that may not be
	// installed; core kinds are always served.
	optional bool
	newList  func() client.ObjectList
	newObj   func() client.Object
	items    func(client.ObjectList) []client.Object
}

// String names the kind as a person installing CRDs would look for it.
func (k childKind) String() string {
	return k.gvk.Kind + "." + k.gvk.Group + "/" + k.gvk.Version
}

func itemsOf[T any, PT interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// gatewayKind is the Gateway, whose status the operator also reads.
var gatewayKind = childKind{
	gvk: gwapiv1.SchemeGroupVersion.WithKind("Gateway"), optional: true,
	newList: func() client.ObjectList { return &gwapiv1.GatewayList{} },
	newObj:  func() client.Object { return &gwapiv1.Gateway{} },
	items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.GatewayList).Items) },
}

// childKinds lists every generated kind. The order is the prune order:
// routes and Gateway first, NetworkPolicies last.
var childKinds = []childKind{
	{
		gvk: gwapiv1.SchemeGroupVersion.WithKind("TLSRoute"), optional: true,
		newList: func() client.ObjectList { return &gwapiv1.TLSRouteList{} },
		newObj:  func() client.Object { return &gwapiv1.TLSRoute{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.TLSRouteList).Items) },
	},
	{
		gvk: gwapiv1.SchemeGroupVersion.WithKind("TCPRoute"), optional: true,
		newList: func() client.ObjectList { return &gwapiv1.TCPRouteList{} },
		newObj:  func() client.Object { return &gwapiv1.TCPRoute{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.TCPRouteList).Items) },
	},
	gatewayKind,
	{
		gvk: istionetworking.SchemeGroupVersion.WithKind("ServiceEntry"), optional: true,
		newList: func() client.ObjectList { return &istionetworking.ServiceEntryList{} },
		newObj:  func() client.Object { return &istionetworking.ServiceEntry{} },
		items: func(l client.ObjectList) []client.Object {
			return ptrItems(l.(*istionetworking.ServiceEntryList).Items)
		},
	},
	{
		gvk: istionetworking.SchemeGroupVersion.WithKind("DestinationRule"), optional: true,
		newList: func() client.ObjectList { return &istionetworking.DestinationRuleList{} },
		newObj:  func() client.Object { return &istionetworking.DestinationRule{} },
		items: func(l client.ObjectList) []client.Object {
			return ptrItems(l.(*istionetworking.DestinationRuleList).Items)
		},
	},
	{
		gvk:     corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		newList: func() client.ObjectList { return &corev1.ConfigMapList{} },
		newObj:  func() client.Object { return &corev1.ConfigMap{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*corev1.ConfigMapList).Items) },
	},
	{
		gvk:     networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
		newList: func() client.ObjectList { return &networkingv1.NetworkPolicyList{} },
		newObj:  func() client.Object { return &networkingv1.NetworkPolicy{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*networkingv1.NetworkPolicyList).Items) },
	},
}

// Istio's generated lists hold pointers.
func ptrItems[T client.Object](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = items[i]
	}
	return out
}

func kindOf(gvk schema.GroupVersionKind) (childKind, bool) {
	for _, k := range childKinds {
		if k.gvk == gvk {
			return k, true
		}
	}
	return childKind{}, false
}
