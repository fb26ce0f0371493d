package tests

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "NotAcceptedWithReason",
		Description: "A dnsName inside the cluster domain, and an ipOverride naming private or metadata addresses, are Accepted=False with a reason that says why, and get no gateway.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Manifests:   []string{"manifests/core-not-accepted.yaml"},
		Test:        testNotAccepted,
	})
}

func testNotAccepted(t *testing.T, s *suite.Suite) {
	// The manifest's ExternalServices, each with what its Accepted
	// message must name.
	cases := []struct {
		name     string
		mentions string
	}{
		{"na-cluster-domain", s.ClusterDomain},
		{"na-private-ip", "10.1.2.3"},
		{"na-metadata-ip", "169.254.169.254"},
	}
	for _, c := range cases {
		es := s.WaitForCondition(t, c.name, egressv1.ConditionAccepted, metav1.ConditionFalse, egressv1.ReasonInvalid, s.Timeouts.Accepted)
		cond := findCondition(es, egressv1.ConditionAccepted)
		if !strings.Contains(cond.Message, c.mentions) {
			t.Errorf("%s: Accepted message %q does not name %q", c.name, cond.Message, c.mentions)
		}
		if err := suite.CheckCondition(es, egressv1.ConditionProgrammed, metav1.ConditionFalse, egressv1.ReasonNotGenerated); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		err := s.Client.Get(context.Background(), types.NamespacedName{Namespace: s.GatewayNamespace, Name: c.name}, &gwapiv1.Gateway{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s: a Gateway exists for a refused ExternalService (%v)", c.name, err)
		}
	}
}
