package tests

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/egressgate/egressgate/conformance/suite"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "ResilienceOperatorRestartNoWrites",
		Description: "Restarting the operator over converged ExternalServices recreates nothing (every child keeps its UID) and writes nothing.",
		Features:    []suite.Feature{suite.FeatureOperatorRestart, suite.FeatureExternalService},
		Manifests:   []string{"manifests/resilience-operator-restart.yaml"},
		Test:        testOperatorRestart,
	})
}

func testOperatorRestart(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	const name = "restart"
	s.WaitProgrammed(t, name)

	children := tlsAndSSHChildren(name)
	uids := make([]types.UID, len(children))
	for i, c := range children {
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: c.GetName()}, c); err != nil {
			t.Fatal(err)
		}
		uids[i] = c.GetUID()
	}
	stopped, err := s.ControlPlane.RestartOperator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The new leader has listed the ExternalService and worked through its
	// queue: had anything needed writing, it would have been written.
	if err := s.ControlPlane.WaitOperatorSettled(ctx, 1, s.Timeouts.Recovery); err != nil {
		t.Fatal(err)
	}
	writes, err := s.ControlPlane.OperatorWrites(stopped)
	if err != nil {
		t.Fatal(err)
	}
	if len(writes) > 0 {
		t.Errorf("the restarted operator wrote %d times over converged objects:\n  %s", len(writes), strings.Join(writes, "\n  "))
	}
	for i, c := range children {
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: c.GetName()}, c); err != nil {
			t.Errorf("after the restart: %v", err)
			continue
		}
		if c.GetUID() != uids[i] {
			t.Errorf("%T %s was recreated (UID %s, was %s)", c, c.GetName(), c.GetUID(), uids[i])
		}
	}
	t.Logf("after the restart the operator settled with %d writes; %d children kept their UIDs", len(writes), len(children))
}
