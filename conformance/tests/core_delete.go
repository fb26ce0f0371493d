package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DeleteLeavesNothing",
		Description: "Deleting a deployed ExternalService removes its Gateway, routes, ServiceEntry, ConfigMap, NetworkPolicies and everything Istio deployed for it.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Manifests:   []string{"manifests/core-delete.yaml"},
		Test:        testDelete,
	})
}

func testDelete(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "core-delete"
	es := s.WaitProgrammed(t, name)
	// What must go, seen before the deletion: the checks below find it by
	// the same labels and names.
	if len(s.GatewayPods(t, name)) == 0 || s.GatewayService(t, name) == nil {
		t.Fatal("no gateway pods or Service before the deletion")
	}
	s.DeleteAndWait(t, es)

	s.Eventually(t, "nothing made for the ExternalService is left", s.Timeouts.Deleted, func() error {
		var left []string
		for _, obj := range tlsAndSSHChildren(name) {
			err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: obj.GetName()}, obj)
			if !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("%T %s", obj, obj.GetName()))
			}
		}
		for _, list := range []client.ObjectList{
			&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PodList{},
			&autoscalingv2.HorizontalPodAutoscalerList{}, &policyv1.PodDisruptionBudgetList{},
		} {
			if err := s.Client.List(ctx, list, client.InNamespace(s.GatewayNamespace), suite.GatewayLabels(name)); err != nil {
				return err
			}
			if n := meta.LenList(list); n > 0 {
				left = append(left, fmt.Sprintf("%d of %T", n, list))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %s", strings.Join(left, ", "))
		}
		return nil
	})
}
