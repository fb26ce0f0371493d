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
		ShortName:   "DNSClusterDomainNeverHijacked",
		Description: "An ExternalService naming a host inside the cluster domain is admitted but Accepted=False, and DNS keeps giving that name the answer it gave before.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSClusterDomain,
	})
}

func testDNSClusterDomain(t *testing.T, s *suite.Suite) {
	const name = "dns-cluster-domain"
	host := "conformance-hijack.default.svc." + s.ClusterDomain
	before, beforeRcode, err := s.QueryA(host, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Create(t, suite.NewExternalService(name, host, true, "TLS/443"))
	s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionFalse, "", s.Timeouts.Accepted)
	for i := range 10 {
		ips, rcode, err := s.QueryA(host, "")
		if err != nil || rcode != beforeRcode || !slices.Equal(ips, before) {
			t.Fatalf("query %d: %v rcode %d (%v), want what the cluster answered before: %v rcode %d", i, ips, rcode, err, before, beforeRcode)
		}
	}
}
