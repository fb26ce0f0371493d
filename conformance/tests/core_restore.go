package tests

import (
	"context"
	"fmt"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "ChildrenRestored",
		Description: "A deleted route or NetworkPolicy is recreated, and hand edits to the Gateway's listeners or the ingress policy's peers are reverted.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Manifests:   []string{"manifests/core-restore.yaml"},
		Test:        testRestore,
	})
}

func testRestore(t *testing.T, s *suite.Suite) {
	const name = "core-restore"
	s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionTrue, "", s.Timeouts.Accepted)
	checkDeletedChildrenRecreated(t, s, name)
	checkListenerEditReverted(t, s, name)
	checkIngressEditReverted(t, s, name)
}

// checkDeletedChildrenRecreated deletes both routes and the egress policy,
// one at a time, and waits for a new object (a new UID) of each.
func checkDeletedChildrenRecreated(t *testing.T, s *suite.Suite, name string) {
	ctx := context.Background()
	deleted := []client.Object{
		&gwapiv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: s.GatewayNamespace, Name: egressv1.RouteName(name, 443)}},
		&gwapiv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: s.GatewayNamespace, Name: egressv1.RouteName(name, 22)}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: s.GatewayNamespace, Name: name + "-egress"}},
	}
	for _, obj := range deleted {
		s.Eventually(t, fmt.Sprintf("%T %s exists", obj, obj.GetName()), s.Timeouts.Restored, func() error {
			return s.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		})
		old := obj.GetUID()
		if err := s.Client.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		s.Eventually(t, fmt.Sprintf("%T %s is recreated", obj, obj.GetName()), s.Timeouts.Restored, func() error {
			if err := s.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
			if obj.GetUID() == old {
				return fmt.Errorf("still the deleted object %s", old)
			}
			return nil
		})
	}
}

// checkListenerEditReverted moves a Gateway listener to another port and
// waits for the listeners to be put back.
func checkListenerEditReverted(t *testing.T, s *suite.Suite, name string) {
	ctx := context.Background()
	// istiod writes the Gateway's status: retry on conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		gw := &gwapiv1.Gateway{}
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: name}, gw); err != nil {
			return err
		}
		gw.Spec.Listeners[0].Port = 9999
		return s.Client.Update(ctx, gw)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitListeners(t, s, name, []int32{22, 443})
}

// checkIngressEditReverted opens the ingress policy's client rule to every
// pod and waits until it admits only the labelled clients again.
func checkIngressEditReverted(t *testing.T, s *suite.Suite, name string) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: s.GatewayNamespace, Name: name + "-ingress"}
	np := &networkingv1.NetworkPolicy{}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.Client.Get(ctx, key, np); err != nil {
			return err
		}
		opened := false
		for i, rule := range np.Spec.Ingress {
			if admitsLabelledClients(rule, name) {
				np.Spec.Ingress[i].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
				opened = true
			}
		}
		if !opened {
			t.Fatalf("the ingress policy has no rule for labelled clients: %+v", np.Spec.Ingress)
		}
		return s.Client.Update(ctx, np)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Eventually(t, "the ingress policy admits only labelled clients again", s.Timeouts.Restored, func() error {
		if err := s.Client.Get(ctx, key, np); err != nil {
			return err
		}
		labelled := false
		for _, rule := range np.Spec.Ingress {
			labelled = labelled || admitsLabelledClients(rule, name)
			for _, peer := range rule.From {
				if peer.PodSelector == nil && peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels) == 0 {
					return fmt.Errorf("peer %+v admits every pod", peer)
				}
			}
		}
		if !labelled {
			return fmt.Errorf("no rule admits the labelled clients: %+v", np.Spec.Ingress)
		}
		return nil
	})
}
