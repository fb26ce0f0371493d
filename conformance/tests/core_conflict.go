package tests

import (
	"context"
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
		ShortName:   "ConflictOldestWins",
		Description: "When two ExternalServices name the same dnsName, the oldest gets the gateway and the other reports Conflicted; when the oldest goes, the other takes over.",
		Features:    []suite.Feature{suite.FeatureExternalService},
		Test:        testConflict,
	})
}

func testConflict(t *testing.T, s *suite.Suite) {
	ctx := context.Background()
	host := s.ExternalName("core-conflict")
	// The older one sorts after the newer one by name, so only age can
	// make it win.
	older := suite.NewExternalService("conflict-z-older", host, false, "TLS/443")
	newer := suite.NewExternalService("conflict-a-newer", host, false, "TLS/443")
	s.Create(t, older)
	// creationTimestamp has one-second resolution: make the ages differ.
	time.Sleep(1100 * time.Millisecond)
	s.Create(t, newer)

	s.WaitForCondition(t, older.Name, egressv1.ConditionConflicted, metav1.ConditionFalse, egressv1.ReasonNoConflict, s.Timeouts.Accepted)
	es := s.WaitForCondition(t, newer.Name, egressv1.ConditionConflicted, metav1.ConditionTrue, egressv1.ReasonConflicted, s.Timeouts.Accepted)
	if msg := findCondition(es, egressv1.ConditionConflicted).Message; !containsAll(msg, older.Name) {
		t.Errorf("Conflicted message %q does not name the owner %s", msg, older.Name)
	}
	if err := suite.CheckCondition(es, egressv1.ConditionProgrammed, metav1.ConditionFalse, egressv1.ReasonNotGenerated); err != nil {
		t.Error(err)
	}
	s.Eventually(t, "the older one has a Gateway", s.Timeouts.Restored, func() error {
		return s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: older.Name}, &gwapiv1.Gateway{})
	})
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: newer.Name}, &gwapiv1.Gateway{}); err == nil {
		t.Errorf("the newer, conflicted ExternalService has a Gateway")
	}

	s.DeleteAndWait(t, older)
	s.WaitForCondition(t, newer.Name, egressv1.ConditionConflicted, metav1.ConditionFalse, egressv1.ReasonNoConflict, s.Timeouts.Accepted)
	s.Eventually(t, "the remaining one gets its Gateway", s.Timeouts.Restored, func() error {
		return s.Client.Get(ctx, types.NamespacedName{Namespace: s.GatewayNamespace, Name: newer.Name}, &gwapiv1.Gateway{})
	})
}
