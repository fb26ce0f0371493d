package tests

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "IstioGatewayCarriesSettings",
		Description: "The HorizontalPodAutoscaler, Deployment and Service istiod deploys carry the ExternalService's replicas, CPU target, resources and traffic distribution; with PodDisruptionBudgets on, each gateway gets one allowing 25% unavailable.",
		Features:    []suite.Feature{suite.FeatureIstioGateway, suite.FeatureExternalService},
		Manifests:   []string{"manifests/istio-settings.yaml"},
		Test:        testIstioSettings,
	})
}

func testIstioSettings(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "istio-settings"
	es := s.WaitProgrammed(t, name)
	inNS := client.InNamespace(s.GatewayNamespace)

	s.Eventually(t, "the HPA has min 2, max 5, CPU 70%", s.Timeouts.Programmed, func() error {
		var list autoscalingv2.HorizontalPodAutoscalerList
		if err := s.Client.List(ctx, &list, inNS, suite.GatewayLabels(name)); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d HPAs", len(list.Items))
		}
		h := list.Items[0].Spec
		if h.MinReplicas == nil || *h.MinReplicas != 2 || h.MaxReplicas != 5 || len(h.Metrics) != 1 || h.Metrics[0].Resource == nil || h.Metrics[0].Resource.Name != corev1.ResourceCPU ||
			h.Metrics[0].Resource.Target.AverageUtilization == nil || *h.Metrics[0].Resource.Target.AverageUtilization != 70 {
			return fmt.Errorf("HPA spec %+v", h)
		}
		return nil
	})
	s.Eventually(t, "the istio-proxy container has the resources", s.Timeouts.Programmed, func() error {
		var list appsv1.DeploymentList
		if err := s.Client.List(ctx, &list, inNS, suite.GatewayLabels(name)); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d Deployments", len(list.Items))
		}
		for _, c := range list.Items[0].Spec.Template.Spec.Containers {
			if c.Name != "istio-proxy" {
				continue
			}
			want := es.Spec.Resources
			for _, r := range []struct {
				what      string
				got, want resource.Quantity
			}{
				{"requests.cpu", c.Resources.Requests[corev1.ResourceCPU], want.Requests[corev1.ResourceCPU]},
				{"requests.memory", c.Resources.Requests[corev1.ResourceMemory], want.Requests[corev1.ResourceMemory]},
				{"limits.cpu", c.Resources.Limits[corev1.ResourceCPU], want.Limits[corev1.ResourceCPU]},
				{"limits.memory", c.Resources.Limits[corev1.ResourceMemory], want.Limits[corev1.ResourceMemory]},
			} {
				if r.got.Cmp(r.want) != 0 {
					return fmt.Errorf("istio-proxy %s = %s, want %s", r.what, r.got.String(), r.want.String())
				}
			}
			return nil
		}
		return fmt.Errorf("no istio-proxy container")
	})
	svc := s.GatewayService(t, name)
	if svc.Spec.TrafficDistribution == nil || *svc.Spec.TrafficDistribution != es.Spec.ServiceTrafficDistribution {
		t.Errorf("Service trafficDistribution %v, want %s", svc.Spec.TrafficDistribution, es.Spec.ServiceTrafficDistribution)
	}
	if !s.PodDisruptionBudgets {
		t.Log("the operator runs without PodDisruptionBudgets (-pod-disruption-budgets): not checked")
	} else {
		s.Eventually(t, "the PDB allows 25% unavailable", s.Timeouts.Programmed, func() error {
			var list policyv1.PodDisruptionBudgetList
			if err := s.Client.List(ctx, &list, inNS, suite.GatewayLabels(name)); err != nil {
				return err
			}
			if len(list.Items) != 1 || list.Items[0].Spec.MaxUnavailable == nil || list.Items[0].Spec.MaxUnavailable.String() != "25%" {
				return fmt.Errorf("PDBs %+v", list.Items)
			}
			return nil
		})
	}
}
