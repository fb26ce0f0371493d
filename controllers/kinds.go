package controllers

import (
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// childKind is one kind of object the operator generates.
//
// The cache keeps only the metadata of children: owner and resourceVersion
// are all a pass needs to find them and to see that they are up to date
// (see upToDate for how, and how a change by someone else is still
// caught; cachetransform.go for what is dropped). The
// Gateway is cached typed, since a pass reads its status, but without its
// spec. At 10,000 ExternalServices this is the difference between the
// cache holding 60,000 whole objects and 60,000 trimmed ObjectMetas.
type childKind struct {
	gvk schema.GroupVersionKind
	// optional kinds come from CRDs (Gateway API, Istio) that may not be
	// installed; core kinds are always served.
	optional bool
	// newObj is the typed object: the Gateway's cached form, and the form
	// every kind is read in from the API server when the cache cannot tell
	// whether it is up to date.
	newObj func() client.Object
	// typed is set for the kind cached as typed objects (the Gateway).
	typed bool
}

// String names the kind as a person installing CRDs would look for it.
func (k childKind) String() string {
	return k.gvk.Kind + "." + k.gvk.Group + "/" + k.gvk.Version
}

// cached is an empty object of the form the cache keeps.
func (k childKind) cached() client.Object {
	if k.typed {
		return k.newObj()
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(k.gvk)
	return m
}

// gatewayKind is the Gateway, whose status the operator also reads.
var gatewayKind = childKind{
	gvk: gwapiv1.SchemeGroupVersion.WithKind("Gateway"), optional: true,
	newObj: func() client.Object { return &gwapiv1.Gateway{} },
	typed:  true,
}

// childKinds lists every generated kind. The order is the prune order:
// routes and Gateway first, NetworkPolicies last.
var childKinds = []childKind{
	{
		gvk: gwapiv1.SchemeGroupVersion.WithKind("TLSRoute"), optional: true,
		newObj: func() client.Object { return &gwapiv1.TLSRoute{} },
	},
	{
		gvk: gwapiv1.SchemeGroupVersion.WithKind("TCPRoute"), optional: true,
		newObj: func() client.Object { return &gwapiv1.TCPRoute{} },
	},
	gatewayKind,
	{
		gvk: istionetworking.SchemeGroupVersion.WithKind("ServiceEntry"), optional: true,
		newObj: func() client.Object { return &istionetworking.ServiceEntry{} },
	},
	{
		gvk: istionetworking.SchemeGroupVersion.WithKind("DestinationRule"), optional: true,
		newObj: func() client.Object { return &istionetworking.DestinationRule{} },
	},
	{
		gvk:    corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		newObj: func() client.Object { return &corev1.ConfigMap{} },
	},
	networkPolicyKind,
}

// networkPolicyKind is the NetworkPolicy, which a deletion waits for.
var networkPolicyKind = childKind{
	gvk:    networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
	newObj: func() client.Object { return &networkingv1.NetworkPolicy{} },
}

func kindOf(gvk schema.GroupVersionKind) (childKind, bool) {
	for _, k := range childKinds {
		if k.gvk == gvk {
			return k, true
		}
	}
	return childKind{}, false
}
