package tests

import (
	"slices"
	"strings"
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
	es := readManifest(t, s, "manifests/dns-cluster-domain.yaml").externalService(name)
	host := es.Spec.DnsName
	if !strings.HasSuffix(host, "."+s.ClusterDomain) {
		t.Fatalf("the manifest's dnsName %s is not inside the cluster domain %s", host, s.ClusterDomain)
	}
	before, beforeRcode, err := s.QueryA(host, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Create(t, es)
	s.WaitForCondition(t, name, egressv1.ConditionAccepted, metav1.ConditionFalse, "", s.Timeouts.Accepted)
	for i := range 10 {
		ips, rcode, err := s.QueryA(host, "")
		if err != nil || rcode != beforeRcode || !slices.Equal(ips, before) {
			t.Fatalf("query %d: %v rcode %d (%v), want what the cluster answered before: %v rcode %d", i, ips, rcode, err, before, beforeRcode)
		}
	}
}
