package tests

import (
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DNSNotHijackedBeforeProgrammed",
		Description: "A name is answered with the gateway address only once its ExternalService says DNSHijacked; before, and for one that can never be programmed, the upstream answer stands and no query fails.",
		Features:    []suite.Feature{suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testDNSNotProgrammed,
	})
}

func testDNSNotProgrammed(t *testing.T, s *suite.Suite) {
	const name, never = "dns-early", "dns-never"
	m := readManifest(t, s, "manifests/dns-not-programmed.yaml")
	early, neverES := m.externalService(name), m.externalService(never)
	host, neverHost := early.Spec.DnsName, neverES.Spec.DnsName
	upstream, neverUpstream := upstreamA(t, s, host), upstreamA(t, s, neverHost)

	// UDP only: Accepted=False, never programmed, never hijacked.
	s.Create(t, neverES)
	s.Create(t, early)

	// Query until DNSHijacked=True is seen. Every answer with anything but
	// the upstream addresses must come after the status said hijacked:
	// the status is read after the answer, so it cannot lag behind it.
	queries := 0
	s.Eventually(t, name+" becomes DNSHijacked", s.Timeouts.Programmed, func() error {
		ips, rcode, err := s.QueryA(host, "")
		if err != nil {
			t.Fatalf("query %d: %v", queries, err)
		}
		queries++
		es, err := s.GetExternalService(name)
		if err != nil {
			return err
		}
		hijacked := meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionDNSHijacked)
		switch {
		case rcode != dns.RcodeSuccess:
			t.Fatalf("query %d got %s before the gateway was programmed", queries, dns.RcodeToString[rcode])
		case !slices.Equal(ips, upstream) && !hijacked:
			t.Fatalf("query %d answered %v while the ExternalService was not DNSHijacked (conditions %+v)", queries, ips, es.Status.Conditions)
		case !hijacked:
			return fmt.Errorf("not hijacked yet after %d queries", queries)
		}
		return nil
	})
	if queries < 2 {
		t.Fatalf("%s was DNSHijacked at the first query: no answer before programming was checked", name)
	}
	t.Logf("%d queries before DNSHijacked, all answered upstream", queries-1)

	s.WaitForCondition(t, never, egressv1.ConditionAccepted, metav1.ConditionFalse, egressv1.ReasonInvalid, s.Timeouts.Accepted)
	for i := range 10 {
		ips, rcode, err := s.QueryA(neverHost, "")
		if err != nil || rcode != dns.RcodeSuccess || !slices.Equal(ips, neverUpstream) {
			t.Fatalf("query %d for the never-programmed %s: %v %s %v, want upstream %v", i, neverHost, ips, dns.RcodeToString[rcode], err, neverUpstream)
		}
	}
}
