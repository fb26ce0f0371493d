package tests

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/egressgate/egressgate/conformance/suite"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

func init() {
	register(suite.ConformanceTest{
		ShortName: "IstioAcceptsGeneratedObjects",
		Description: "istiod accepts the generated Gateway (Accepted, Programmed, every listener Accepted, Programmed and ResolvedRefs), the TLSRoute and TCPRoute " +
			"(Accepted, and ResolvedRefs, which means their Hostname backend resolved through the ServiceEntry), and the TLS listener's hostname is the dnsName.",
		Features:  []suite.Feature{suite.FeatureIstioGateway, suite.FeatureExternalService},
		Manifests: []string{"manifests/istio-accepts.yaml"},
		Test:      testIstioAccepts,
	})
}

func testIstioAccepts(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "istio-accepts"
	host := s.WaitProgrammed(t, name).Spec.DnsName
	key := func(n string) types.NamespacedName {
		return types.NamespacedName{Namespace: s.GatewayNamespace, Name: n}
	}

	gw := &gwapiv1.Gateway{}
	s.Eventually(t, "the Gateway and each listener are accepted by istiod", s.Timeouts.Programmed, func() error {
		if err := s.Client.Get(ctx, key(name), gw); err != nil {
			return err
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			c := meta.FindStatusCondition(gw.Status.Conditions, typ)
			if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != gw.Generation {
				return fmt.Errorf("Gateway %s = %+v (generation %d)", typ, c, gw.Generation)
			}
		}
		if len(gw.Status.Listeners) != len(gw.Spec.Listeners) {
			return fmt.Errorf("%d listener statuses for %d listeners", len(gw.Status.Listeners), len(gw.Spec.Listeners))
		}
		for _, l := range gw.Status.Listeners {
			for _, typ := range []string{"Accepted", "Programmed", "ResolvedRefs"} {
				if !meta.IsStatusConditionTrue(l.Conditions, typ) {
					return fmt.Errorf("listener %s: %s is not True: %+v", l.Name, typ, l.Conditions)
				}
			}
			if l.AttachedRoutes != 1 {
				return fmt.Errorf("listener %s has %d routes attached, want 1", l.Name, l.AttachedRoutes)
			}
		}
		return nil
	})
	tlsListeners := 0
	for _, l := range gw.Spec.Listeners {
		if l.Protocol != gwapiv1.TLSProtocolType {
			continue
		}
		tlsListeners++
		if l.Hostname == nil || string(*l.Hostname) != host {
			t.Errorf("TLS listener %s has hostname %v, want %s", l.Name, l.Hostname, host)
		}
	}
	if tlsListeners != 1 {
		t.Errorf("%d TLS listeners for one TLS port: %+v", tlsListeners, gw.Spec.Listeners)
	}

	tlsRoute := &gwapiv1.TLSRoute{}
	tcpRoute := &gwapiv1.TCPRoute{}
	s.Eventually(t, "istiod accepts both routes and resolves their backends", s.Timeouts.Programmed, func() error {
		if err := s.Client.Get(ctx, key(egressv1.RouteName(name, 443)), tlsRoute); err != nil {
			return err
		}
		if err := s.Client.Get(ctx, key(egressv1.RouteName(name, 22)), tcpRoute); err != nil {
			return err
		}
		for route, parents := range map[string][]gwapiv1.RouteParentStatus{"TLSRoute": tlsRoute.Status.Parents, "TCPRoute": tcpRoute.Status.Parents} {
			if err := parentsAccepted(parents); err != nil {
				return fmt.Errorf("%s: %w", route, err)
			}
		}
		return nil
	})
	if len(tlsRoute.Spec.Hostnames) != 1 || string(tlsRoute.Spec.Hostnames[0]) != host {
		t.Errorf("TLSRoute hostnames %v, want [%s]", tlsRoute.Spec.Hostnames, host)
	}
}

func parentsAccepted(parents []gwapiv1.RouteParentStatus) error {
	if len(parents) == 0 {
		return fmt.Errorf("no parent status yet")
	}
	for _, p := range parents {
		for _, typ := range []string{"Accepted", "ResolvedRefs"} {
			if !meta.IsStatusConditionTrue(p.Conditions, typ) {
				return fmt.Errorf("parent %s: %s is not True: %+v", p.ParentRef.Name, typ, p.Conditions)
			}
		}
	}
	return nil
}
