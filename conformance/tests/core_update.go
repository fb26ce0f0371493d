package tests

import (
	"context"
	"fmt"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "UpdatePropagates",
		Description: "Changing an ExternalService's ports moves the Gateway's listeners, the routes and the NetworkPolicy ports, removes the old route, and the status follows the new generation.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Manifests:   []string{"manifests/core-update.yaml"},
		Test:        testUpdate,
	})
}

func testUpdate(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "core-update"
	s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionTrue, "", s.Timeouts.Accepted)
	waitListeners(t, s, name, []int32{443})

	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	s.UpdateExternalService(t, name, func(es *egressv1.ExternalService) {
		es.Spec.Ports = []egressv1.ExternalServicePort{{Port: 8443, Protocol: &tls}, {Port: 22, Protocol: &tcp}}
	})
	s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionTrue, "", s.Timeouts.Accepted)
	waitListeners(t, s, name, []int32{22, 8443})
	s.Eventually(t, "routes follow the ports", s.Timeouts.Restored, func() error {
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: egressv1.RouteName(name, 8443)}, &gwapiv1.TLSRoute{}); err != nil {
			return fmt.Errorf("TLSRoute for 8443: %w", err)
		}
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: egressv1.RouteName(name, 22)}, &gwapiv1.TCPRoute{}); err != nil {
			return fmt.Errorf("TCPRoute for 22: %w", err)
		}
		err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: egressv1.RouteName(name, 443)}, &gwapiv1.TLSRoute{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("the TLSRoute for the removed port 443 is still there (%v)", err)
		}
		return nil
	})
	s.Eventually(t, "the ingress NetworkPolicy admits the new ports", s.Timeouts.Restored, func() error {
		np := &networkingv1.NetworkPolicy{}
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: name + "-ingress"}, np); err != nil {
			return err
		}
		var ports []int32
		for _, rule := range np.Spec.Ingress {
			if !admitsLabelledClients(rule, name) {
				continue // the metrics scraping rule
			}
			for _, p := range rule.Ports {
				if p.Port != nil {
					ports = append(ports, p.Port.IntVal)
				}
			}
		}
		slices.Sort(ports)
		if !slices.Equal(slices.Compact(ports), []int32{22, 8443}) {
			return fmt.Errorf("client ports %v, want [22 8443]", ports)
		}
		return nil
	})
}
