package tests

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
	m := readManifest(t, s, "manifests/core-conflict.yaml")
	const namespace = "conformance-conflict"
	s.Create(t, m.object("Namespace", namespace))
	older, newer := m.externalService("conflict-z-older"), m.externalService("conflict-a-newer")
	s.Create(t, older)
	// creationTimestamp has one-second resolution: make the ages differ.
	waitClockPast(t, s, namespace, older.CreationTimestamp)
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

// waitClockPast waits until an object created now gets a creationTimestamp
// after since, that is until the API server's clock has left since's
// second. It reads the clock by creating a throwaway ConfigMap in
// namespace, deleted right after.
func waitClockPast(t *testing.T, s *suite.Suite, namespace string, since metav1.Time) {
	t.Helper()
	if since.IsZero() {
		t.Fatal("the older ExternalService has no creationTimestamp")
	}
	ctx := context.Background()
	s.Eventually(t, "the API server's clock is past "+since.UTC().Format("15:04:05"), s.Timeouts.Accepted, func() error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "clock-", Namespace: namespace}}
		if err := s.Client.Create(ctx, cm); err != nil {
			return fmt.Errorf("create a ConfigMap to read the clock: %w", err)
		}
		if err := s.Client.Delete(ctx, cm); err != nil {
			return fmt.Errorf("delete the clock ConfigMap %s: %w", cm.Name, err)
		}
		if !cm.CreationTimestamp.After(since.Time) {
			return fmt.Errorf("a ConfigMap created now is stamped %s", cm.CreationTimestamp.UTC().Format("15:04:05"))
		}
		return nil
	})
}
