package tests

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "ResilienceLeaderHandover",
		Description: "With two operator replicas under leader election, killing the leader hands over to the other: a new ExternalService gets its Gateway within the LeaderHandover bound (45s by default: the 15s lease, retries and one reconcile).",
		Features:    []suite.Feature{suite.FeatureLeaderElection, suite.FeatureExternalService},
		Test:        testLeaderHandover,
	})
}

func testLeaderHandover(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "handover"
	killed, err := s.ControlPlane.KillLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The killed replica stays down, so only the standby can take over.
	defer func() {
		if err := s.ControlPlane.ResumeOperator(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	s.ApplyManifest(t, "manifests/resilience-leader-election.yaml")
	s.Eventually(t, "a new leader reconciles "+name, s.Timeouts.LeaderHandover, func() error {
		return s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: name}, &gwapiv1.Gateway{})
	})
	leader, err := s.ControlPlane.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the leader %s; %s took over; the Gateway for a new ExternalService appeared %.1fs later (bound %s)", killed, leader, time.Since(start).Seconds(), s.Timeouts.LeaderHandover)
}
