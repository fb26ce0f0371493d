package controllers_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

func childLists() map[string]client.ObjectList {
	return map[string]client.ObjectList{
		"NetworkPolicy":   &networkingv1.NetworkPolicyList{},
		"ConfigMap":       &corev1.ConfigMapList{},
		"ServiceEntry":    &istionetworking.ServiceEntryList{},
		"DestinationRule": &istionetworking.DestinationRuleList{},
		"Gateway":         &gwapiv1.GatewayList{},
		"TLSRoute":        &gwapiv1.TLSRouteList{},
		"TCPRoute":        &gwapiv1.TCPRouteList{},
	}
}

func waitChildren(t *testing.T, esName string, want map[string][]string) {
	t.Helper()
	eventually(t, esName+"'s children", func() error {
		got, err := childNames(context.Background(), esName)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("children are %v, want %v", got, want)
		}
		return nil
	})
}

func TestCreateProducesEveryChild(t *testing.T) {
	es := externalService("github", "github.com", port(443, egressv1.ProtocolTLS), port(22, egressv1.ProtocolTCP))
	es.Spec.EnvoyClusterMaxConnections = new(int64(100))
	es.Spec.EnvoyLogLevel = "debug"
	create(t, es)

	waitChildren(t, "github", map[string][]string{
		"NetworkPolicy":   {"github-egress", "github-ingress"},
		"ConfigMap":       {"github-options"},
		"ServiceEntry":    {"github"},
		"DestinationRule": {"github"},
		"Gateway":         {"github"},
		"TLSRoute":        {"github-443"},
		"TCPRoute":        {"github-22"},
	})
	got := waitCondition(t, "github", egressv1.ConditionAccepted, metav1.ConditionTrue, egressv1.ReasonAccepted)
	if c := meta.FindStatusCondition(got.Status.Conditions, egressv1.ConditionProgrammed); c == nil || c.Reason != egressv1.ReasonPending {
		t.Errorf("Programmed = %+v, want False/Pending while no gateway controller reported", c)
	}
	if !controllersHasFinalizer(got) {
		t.Errorf("finalizers = %v, want %s", got.Finalizers, egressv1.Finalizer)
	}
	// Defaults were applied at admission.
	if *got.Spec.MinReplicas != 3 || *got.Spec.MaxReplicas != 12 || *got.Spec.TargetCPUUtilizationPercentage != 50 {
		t.Errorf("defaults min/max/cpu = %d/%d/%d, want 3/12/50", *got.Spec.MinReplicas, *got.Spec.MaxReplicas, *got.Spec.TargetCPUUtilizationPercentage)
	}

	ctx := ctxT(t)
	gw := &gwapiv1.Gateway{}
	if _, err := exists(ctx, "github", gw); err != nil {
		t.Fatal(err)
	}
	if len(gw.Spec.Listeners) != 2 || gw.Annotations[translate.AnnotationLogLevel] != "debug" {
		t.Errorf("Gateway listeners %d, log level %q; want 2 and debug", len(gw.Spec.Listeners), gw.Annotations[translate.AnnotationLogLevel])
	}
	if ref := metav1.GetControllerOf(gw); ref == nil || ref.UID != got.UID {
		t.Errorf("Gateway controller reference = %v, want the ExternalService %s", ref, got.UID)
	}
	dr := &istionetworking.DestinationRule{}
	if _, err := exists(ctx, "github", dr); err != nil {
		t.Fatal(err)
	}
	if n := dr.Spec.GetTrafficPolicy().GetConnectionPool().GetTcp().GetMaxConnections(); n != 100 {
		t.Errorf("DestinationRule maxConnections = %d, want 100", n)
	}
}

func controllersHasFinalizer(es *egressv1.ExternalService) bool {
	for _, f := range es.Finalizers {
		if f == egressv1.Finalizer {
			return true
		}
	}
	return false
}

func TestChangingPortsChangesAndPrunesRoutes(t *testing.T) {
	create(t, externalService("ports", "ports.example.com", port(443, egressv1.ProtocolTLS), port(22, egressv1.ProtocolTCP)))
	waitChildren(t, "ports", map[string][]string{
		"NetworkPolicy": {"ports-egress", "ports-ingress"}, "ConfigMap": {"ports-options"}, "ServiceEntry": {"ports"},
		"Gateway": {"ports"}, "TLSRoute": {"ports-443"}, "TCPRoute": {"ports-22"},
	})

	ctx := ctxT(t)
	es, err := get(ctx, "ports")
	if err != nil {
		t.Fatal(err)
	}
	es.Spec.Ports = []egressv1.ExternalServicePort{port(8443, egressv1.ProtocolTLS)}
	if err := k8s.Update(ctx, es); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, "ports", map[string][]string{
		"NetworkPolicy": {"ports-egress", "ports-ingress"}, "ConfigMap": {"ports-options"}, "ServiceEntry": {"ports"},
		"Gateway": {"ports"}, "TLSRoute": {"ports-8443"},
	})
	eventually(t, "the Gateway and the ingress policy follow the new port", func() error {
		gw, np := &gwapiv1.Gateway{}, &networkingv1.NetworkPolicy{}
		if _, err := exists(ctx, "ports", gw); err != nil {
			return err
		}
		if _, err := exists(ctx, "ports-ingress", np); err != nil {
			return err
		}
		if len(gw.Spec.Listeners) != 1 || gw.Spec.Listeners[0].Port != 8443 {
			return fmt.Errorf("listeners %+v", gw.Spec.Listeners)
		}
		if ports := np.Spec.Ingress[0].Ports; len(ports) != 1 || ports[0].Port.IntValue() != 8443 {
			return fmt.Errorf("ingress ports %+v", ports)
		}
		return nil
	})
}

func TestDeletedChildIsRecreated(t *testing.T) {
	create(t, externalService("recreate", "recreate.example.com", port(443, egressv1.ProtocolTLS)))
	ctx := ctxT(t)
	var route gwapiv1.TLSRoute
	eventually(t, "the TLSRoute exists", func() error {
		if ok, err := exists(ctx, "recreate-443", &route); !ok {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	np := &networkingv1.NetworkPolicy{}
	if _, err := exists(ctx, "recreate-ingress", np); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{&route, np} {
		if err := k8s.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		obj  client.Object
		uid  string
	}{{"recreate-443", &gwapiv1.TLSRoute{}, string(route.UID)}, {"recreate-ingress", &networkingv1.NetworkPolicy{}, string(np.UID)}} {
		eventually(t, c.name+" is recreated", func() error {
			ok, err := exists(ctx, c.name, c.obj)
			if !ok {
				return fmt.Errorf("missing (%v)", err)
			}
			if string(c.obj.GetUID()) == c.uid {
				return fmt.Errorf("still the deleted object")
			}
			return nil
		})
	}
}

func TestHandEditIsReverted(t *testing.T) {
	create(t, externalService("edited", "edited.example.com", port(443, egressv1.ProtocolTLS)))
	ctx := ctxT(t)
	gw := &gwapiv1.Gateway{}
	eventually(t, "the Gateway exists", func() error {
		if ok, err := exists(ctx, "edited", gw); !ok {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	// Someone opens the gateway to a load balancer and lets every pod in.
	gw.Annotations[translate.AnnotationServiceType] = "LoadBalancer"
	if err := k8s.Update(ctx, gw); err != nil {
		t.Fatal(err)
	}
	np := &networkingv1.NetworkPolicy{}
	if _, err := exists(ctx, "edited-ingress", np); err != nil {
		t.Fatal(err)
	}
	np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
	if err := k8s.Update(ctx, np); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hand edits are reverted", func() error {
		if _, err := exists(ctx, "edited", gw); err != nil {
			return err
		}
		if _, err := exists(ctx, "edited-ingress", np); err != nil {
			return err
		}
		if v := gw.Annotations[translate.AnnotationServiceType]; v != "ClusterIP" {
			return fmt.Errorf("service type is %q", v)
		}
		if ps := np.Spec.Ingress[0].From[0].PodSelector; ps == nil || ps.MatchLabels[egressv1.AllowedLabel("edited")] != "true" {
			return fmt.Errorf("ingress peers %+v", np.Spec.Ingress[0].From)
		}
		return nil
	})
}

func TestOnlyTheOldestClaimantGetsChildren(t *testing.T) {
	create(t, externalService("claim-a", "shared.example.com", port(443, egressv1.ProtocolTLS)))
	waitCondition(t, "claim-a", egressv1.ConditionConflicted, metav1.ConditionFalse, egressv1.ReasonNoConflict)
	create(t, externalService("claim-b", "shared.example.com", port(443, egressv1.ProtocolTLS)))
	es := waitCondition(t, "claim-b", egressv1.ConditionConflicted, metav1.ConditionTrue, egressv1.ReasonConflicted)
	if c := meta.FindStatusCondition(es.Status.Conditions, egressv1.ConditionConflicted); !strings.Contains(c.Message, "claim-a") {
		t.Errorf("Conflicted message %q should name claim-a", c.Message)
	}
	ctx := ctxT(t)
	names, err := childNames(ctx, "claim-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("the newer claimant has children %v, want none", names)
	}
	// When the owner goes, the newer one takes over.
	deleteAndWait(t, "claim-a")
	waitCondition(t, "claim-b", egressv1.ConditionConflicted, metav1.ConditionFalse, egressv1.ReasonNoConflict)
	waitChildren(t, "claim-b", map[string][]string{
		"NetworkPolicy": {"claim-b-egress", "claim-b-ingress"}, "ConfigMap": {"claim-b-options"}, "ServiceEntry": {"claim-b"},
		"Gateway": {"claim-b"}, "TLSRoute": {"claim-b-443"},
	})
}

func TestRefusedSpecsGetAcceptedFalseAndNoChildren(t *testing.T) {
	cases := []struct {
		es      *egressv1.ExternalService
		message string
	}{
		{externalService("in-cluster", "api.payments.svc.cluster.local", port(443, egressv1.ProtocolTLS)), "inside the cluster domain"},
		{func() *egressv1.ExternalService {
			es := externalService("metadata", "metadata.example.com", port(80, egressv1.ProtocolTCP))
			es.Spec.IpOverride = []string{"169.254.169.254"}
			return es
		}(), "169.254.169.254 is a link-local or metadata address"},
		{externalService("udp-only", "ntp.example.com", port(123, egressv1.ProtocolUDP)), "only UDP"},
	}
	for _, c := range cases {
		t.Run(c.es.Name, func(t *testing.T) {
			create(t, c.es)
			es := waitCondition(t, c.es.Name, egressv1.ConditionAccepted, metav1.ConditionFalse, egressv1.ReasonInvalid)
			if msg := meta.FindStatusCondition(es.Status.Conditions, egressv1.ConditionAccepted).Message; !strings.Contains(msg, c.message) {
				t.Errorf("Accepted message %q does not say %q", msg, c.message)
			}
			names, err := childNames(ctxT(t), c.es.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != 0 {
				t.Errorf("children %v, want none", names)
			}
		})
	}
}

// TestProgrammedAddressesAndHijackLatch plays istiod's part: it reports the
// Gateway Programmed, and creates the gateway Deployment and Service.
func TestProgrammedAddressesAndHijackLatch(t *testing.T) {
	es := externalService("latch", "latch.example.com", port(443, egressv1.ProtocolTLS))
	es.Spec.HijackDns = true
	create(t, es)
	ctx := ctxT(t)
	gw := &gwapiv1.Gateway{}
	eventually(t, "the Gateway exists", func() error {
		if ok, err := exists(ctx, "latch", gw); !ok {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	waitCondition(t, "latch", egressv1.ConditionDNSHijacked, metav1.ConditionFalse, egressv1.ReasonWaitingForProgrammed)

	istioLabels := map[string]string{egressv1.LabelGatewayName: "latch"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "latch-istio", Namespace: gatewayNS, Labels: istioLabels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tls-443", Port: 443}}, Selector: istioLabels},
	}
	if err := k8s.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), svc) })
	dep := gatewayDeployment("latch")
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	setAvailable(t, dep, 1)
	meta.SetStatusCondition(&gw.Status.Conditions, metav1.Condition{
		Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed", ObservedGeneration: gw.Generation,
	})
	if err := k8s.Status().Update(ctx, gw); err != nil {
		t.Fatal(err)
	}

	got := waitCondition(t, "latch", egressv1.ConditionProgrammed, metav1.ConditionTrue, egressv1.ReasonProgrammed)
	waitCondition(t, "latch", egressv1.ConditionDNSHijacked, metav1.ConditionTrue, egressv1.ReasonHijacked)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Status.Addresses, svc.Spec.ClusterIPs) {
		t.Errorf("status.addresses = %v, want the Service's ClusterIPs %v", got.Status.Addresses, svc.Spec.ClusterIPs)
	}

	// The gateway loses its pods: Programmed goes False, the hijack stays.
	setAvailable(t, dep, 0)
	waitCondition(t, "latch", egressv1.ConditionProgrammed, metav1.ConditionFalse, egressv1.ReasonNoAvailableReplicas)
	waitCondition(t, "latch", egressv1.ConditionDNSHijacked, metav1.ConditionTrue, egressv1.ReasonHijacked)

	// Turning hijackDns off releases the latch.
	es, err := get(ctx, "latch")
	if err != nil {
		t.Fatal(err)
	}
	es.Spec.HijackDns = false
	if err := k8s.Update(ctx, es); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, "latch", egressv1.ConditionDNSHijacked, metav1.ConditionFalse, egressv1.ReasonHijackDisabled)
}

// gatewayDeployment is the Deployment istiod would create for a Gateway.
func gatewayDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{egressv1.LabelGatewayName: name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-istio", Namespace: gatewayNS, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "istio/proxyv2"}}},
			},
		},
	}
}

func setAvailable(t *testing.T, dep *appsv1.Deployment, n int32) {
	t.Helper()
	ctx := ctxT(t)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
	dep.Status.Replicas, dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = n, n, n
	if err := k8s.Status().Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
}

// TestDeletionRemovesGatewayBeforePolicies: the Gateway goes first, and the
// NetworkPolicies stay until the gateway's Deployment is gone too.
func TestDeletionRemovesGatewayBeforePolicies(t *testing.T) {
	ctx := ctxT(t)
	es := externalService("ordered", "ordered.example.com", port(22, egressv1.ProtocolTCP))
	if err := k8s.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, "ordered", map[string][]string{
		"NetworkPolicy": {"ordered-egress", "ordered-ingress"}, "ConfigMap": {"ordered-options"}, "ServiceEntry": {"ordered"},
		"Gateway": {"ordered"}, "TCPRoute": {"ordered-22"},
	})
	dep := gatewayDeployment("ordered")
	if err := k8s.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, es); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, "ordered", map[string][]string{"NetworkPolicy": {"ordered-egress", "ordered-ingress"}})
	if _, err := get(ctx, "ordered"); err != nil {
		t.Fatalf("the ExternalService went before its gateway: %v", err)
	}
	// istiod's Deployment goes (the garbage collector's job in a cluster).
	if err := k8s.Delete(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, "ordered", map[string][]string{})
	deleteAndWait(t, "ordered")
}
