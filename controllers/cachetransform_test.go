package controllers

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// childMeta is a child's metadata as the API server sends it.
func childMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: egressv1.DefaultGatewayNamespace, ResourceVersion: "42",
		Labels: map[string]string{egressv1.LabelManagedBy: egressv1.ManagedByValue, egressv1.LabelExternalService: "github"},
		Annotations: map[string]string{
			egressv1.AnnotationAppliedHash:                     "0123456789abcdef",
			"kubectl.kubernetes.io/last-applied-configuration": `{"a":"large blob"}`,
		},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService", Name: "github", UID: "u-1",
			Controller: new(true), BlockOwnerDeletion: new(true),
		}},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: FieldManager}},
	}
}

// The cache keeps of a child what a pass reads, and the child is still
// found by its owner.
func TestCacheKeepsWhatAPassReadsOfAChild(t *testing.T) {
	obj := &metav1.PartialObjectMetadata{ObjectMeta: childMeta("github-ingress")}
	obj.SetGroupVersionKind(networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"))
	if _, err := transformForCache(obj); err != nil {
		t.Fatal(err)
	}
	if obj.Labels != nil || obj.Annotations != nil || obj.ManagedFields != nil {
		t.Errorf("labels %v, annotations %v and managedFields %v kept", obj.Labels, obj.Annotations, obj.ManagedFields)
	}
	if obj.Name != "github-ingress" || obj.ResourceVersion != "42" || obj.GroupVersionKind().Kind != "NetworkPolicy" {
		t.Errorf("identity lost: %s %s rv %s", obj.GroupVersionKind(), obj.Name, obj.ResourceVersion)
	}
	if got := ownerOf(obj); got != "github" {
		t.Errorf("owner %q, want github", got)
	}
	if ref := metav1.GetControllerOfNoCopy(obj); ref == nil || ref.UID != "u-1" || !*ref.BlockOwnerDeletion {
		t.Errorf("controller reference %+v", ref)
	}
}

// Of a Gateway the cache keeps its status and generation, not its spec.
func TestCacheKeepsAGatewaysStatusNotItsSpec(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: childMeta("github")}
	gw.Generation = 3
	gw.Spec.GatewayClassName = "istio"
	gw.Spec.Listeners = []gwapiv1.Listener{{Name: "tls-443", Port: 443, Protocol: gwapiv1.TLSProtocolType}}
	gw.Status.Conditions = []metav1.Condition{{Type: string(gwapiv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue, ObservedGeneration: 3}}
	if _, err := transformForCache(gw); err != nil {
		t.Fatal(err)
	}
	if gw.Spec.GatewayClassName != "" || gw.Spec.Listeners != nil {
		t.Errorf("spec kept: %+v", gw.Spec)
	}
	if gw.Generation != 3 || len(gw.Status.Conditions) != 1 || ownerOf(gw) != "github" {
		t.Errorf("generation %d, conditions %v, owner %q", gw.Generation, gw.Status.Conditions, ownerOf(gw))
	}
}

// An ExternalService loses only its managedFields: a pass reads the rest.
func TestCacheKeepsExternalServicesWhole(t *testing.T) {
	es := &egressv1.ExternalService{ObjectMeta: metav1.ObjectMeta{
		Name: "github", Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	es.Spec.DnsName = "github.com"
	if _, err := transformForCache(es); err != nil {
		t.Fatal(err)
	}
	if es.ManagedFields != nil || es.Labels["team"] != "a" || es.Annotations["note"] != "b" || es.Spec.DnsName != "github.com" {
		t.Errorf("ExternalService after the transform: %+v", es)
	}
}
