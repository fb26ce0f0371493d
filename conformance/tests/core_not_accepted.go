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
		Test:        testNotAccepted,
	})
}

func testNotAccepted(t *testing.T, s *suite.Suite) {
	cases := []struct {
		es       *egressv1.ExternalService
		mentions string
	}{
		{suite.NewExternalService("na-cluster-domain", "api.default.svc."+s.ClusterDomain, true, "TLS/443"), s.ClusterDomain},
		{withIPs(suite.NewExternalService("na-private-ip", s.ExternalName("na-private"), false, "TCP/22"), "10.1.2.3"), "10.1.2.3"},
		{withIPs(suite.NewExternalService("na-metadata-ip", s.ExternalName("na-metadata"), false, "TCP/80"), "169.254.169.254"), "169.254.169.254"},
	}
	for _, c := range cases {
		s.Create(t, c.es)
	}
	for _, c := range cases {
		es := s.WaitForCondition(t, c.es.Name, egressv1.ConditionAccepted, metav1.ConditionFalse, egressv1.ReasonInvalid, s.Timeouts.Accepted)
		cond := findCondition(es, egressv1.ConditionAccepted)
		if !strings.Contains(cond.Message, c.mentions) {
			t.Errorf("%s: Accepted message %q does not name %q", c.es.Name, cond.Message, c.mentions)
		}
		if err := suite.CheckCondition(es, egressv1.ConditionProgrammed, metav1.ConditionFalse, egressv1.ReasonNotGenerated); err != nil {
			t.Errorf("%s: %v", c.es.Name, err)
		}
		err := s.Client.Get(context.Background(), types.NamespacedName{Namespace: s.GatewayNamespace, Name: c.es.Name}, &gwapiv1.Gateway{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s: a Gateway exists for a refused ExternalService (%v)", c.es.Name, err)
		}
	}
}

func withIPs(es *egressv1.ExternalService, ips ...string) *egressv1.ExternalService {
	es.Spec.IpOverride = ips
	return es
}
