package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "ResilienceAPIServerOutage",
		Description: "With the API server stopped for 30 seconds, DNS keeps answering hijacked names with the gateway address, no query failing; afterwards the operator reconciles again by itself.",
		Features:    []suite.Feature{suite.FeatureAPIServerOutage, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test:        testAPIServerOutage,
	})
}

// outage is how long the API server stays down.
const outage = 30 * time.Second

func testAPIServerOutage(t *testing.T, s *suite.Suite) {
	const name, after = "outage", "outage-after"
	m := readManifest(t, s, "manifests/resilience-apiserver-outage.yaml")
	s.Create(t, m.externalService(name))
	host := s.WaitProgrammed(t, name).Spec.DnsName
	gateway := ipv4(s.GatewayService(t, name).Spec.ClusterIPs)
	waitA(t, s, "hijacked before the outage", host, "", gateway)

	if err := s.ControlPlane.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = s.ControlPlane.StartAPIServer(context.Background())
		}
	}()
	var queries, failed int
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		queries++
		ips, rcode, err := s.QueryA(host, "")
		if err != nil || rcode != 0 || !slices.Equal(ips, suite.Sorted(gateway)) {
			failed++
			t.Errorf("during the outage, query %d: %v rcode %d (%v), want %v", queries, ips, rcode, err, gateway)
		}
	}
	t.Logf("API server down for %s: %d DNS queries, %d failed", outage, queries, failed)
	if err := s.ControlPlane.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true

	// The operator has recovered when it reconciles a new ExternalService:
	// Accepted for its generation, and its Gateway made. Its informers
	// reconnect with client-go's backoff (up to 30s), and a replica that
	// lost the lease waits for it to expire (15s), so this takes a while.
	start := time.Now()
	s.Create(t, m.externalService(after))
	s.WaitForCondition(t, after, egressv1.ConditionAccepted, metav1.ConditionTrue, "", s.Timeouts.Recovery)
	s.Eventually(t, "the operator makes the new Gateway", s.Timeouts.Recovery, func() error {
		return s.Client.Get(context.Background(), types.NamespacedName{Namespace: s.GatewayNamespace, Name: after}, &gwapiv1.Gateway{})
	})
	t.Logf("the operator reconciled a new ExternalService %.1fs after the API server came back", time.Since(start).Seconds())
	// istiod and the node reconnect with the same backoff before the new
	// gateway can be Programmed.
	for _, n := range []string{after, name} {
		s.WaitForCondition(t, n, egressv1.ConditionProgrammed, metav1.ConditionTrue, "", s.Timeouts.Recovery+s.Timeouts.Programmed)
	}
	t.Logf("the new gateway was Programmed (istiod and the node caught up too) %.1fs after the API server came back", time.Since(start).Seconds())
}
