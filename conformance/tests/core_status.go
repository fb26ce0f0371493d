package tests

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "StatusConditionsAndAddresses",
		Description: "A deployed ExternalService reports Accepted, Conflicted=False, Programmed and DNSHijacked for its current generation, and its gateway Service's ClusterIPs as addresses.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Manifests:   []string{"manifests/core-status.yaml"},
		Test:        testStatus,
	})
}

func testStatus(t *testing.T, s *suite.Suite) {
	const name = "core-status"
	es := s.WaitProgrammed(t, name)
	for _, want := range []struct {
		typ    string
		status metav1.ConditionStatus
		reason string
	}{
		{egressv1.ConditionAccepted, metav1.ConditionTrue, egressv1.ReasonAccepted},
		{egressv1.ConditionConflicted, metav1.ConditionFalse, egressv1.ReasonNoConflict},
		{egressv1.ConditionProgrammed, metav1.ConditionTrue, egressv1.ReasonProgrammed},
		{egressv1.ConditionDNSHijacked, metav1.ConditionTrue, egressv1.ReasonHijacked},
	} {
		if err := suite.CheckCondition(es, want.typ, want.status, want.reason); err != nil {
			t.Error(err)
		}
	}
	svc := s.GatewayService(t, name)
	if !slices.Equal(suite.Sorted(es.Status.Addresses), suite.Sorted(svc.Spec.ClusterIPs)) {
		t.Errorf("status.addresses %v, want the gateway Service's ClusterIPs %v", es.Status.Addresses, svc.Spec.ClusterIPs)
	}
}
