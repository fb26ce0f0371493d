package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/internal/crdpaths"
)

// Helpers shared by tests of several profiles.

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func findCondition(es *egressv1.ExternalService, typ string) metav1.Condition {
	for _, c := range es.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// admitsLabelledClients is whether the rule's peers are the pods labelled
// egress.monzo.com/allowed-<name>.
func admitsLabelledClients(rule networkingv1.NetworkPolicyIngressRule, name string) bool {
	for _, peer := range rule.From {
		if peer.PodSelector != nil && peer.PodSelector.MatchLabels[egressv1.AllowedLabel(name)] == "true" {
			return true
		}
	}
	return false
}

// waitListeners waits until the Gateway's listener ports are want (sorted).
func waitListeners(t *testing.T, s *suite.Suite, name string, want []int32) {
	t.Helper()
	s.Eventually(t, fmt.Sprintf("Gateway %s listens on %v", name, want), s.Timeouts.Restored, func() error {
		gw := &gwapiv1.Gateway{}
		if err := s.Client.Get(context.Background(), types.NamespacedName{Namespace: s.GatewayNamespace, Name: name}, gw); err != nil {
			return err
		}
		var ports []int32
		for _, l := range gw.Spec.Listeners {
			ports = append(ports, int32(l.Port))
		}
		slices.Sort(ports)
		if !slices.Equal(ports, want) {
			return fmt.Errorf("listeners on %v", ports)
		}
		return nil
	})
}

// defaultDenyExample is config/examples/default-deny-egress.yaml, for
// namespace.
func defaultDenyExample(t *testing.T, namespace string) *unstructured.Unstructured {
	t.Helper()
	root, err := crdpaths.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "config", "examples", "default-deny-egress.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := suite.DecodeObjects(f)
	if err != nil || len(objs) != 1 {
		t.Fatalf("the default-deny example: want one NetworkPolicy, got %d (%v)", len(objs), err)
	}
	objs[0].SetNamespace(namespace)
	return objs[0]
}

// tlsAndSSHChildren are the objects the operator makes for an
// ExternalService with TLS on 443 and TCP on 22, empty but for their
// names, ready to Get from the gateway namespace.
func tlsAndSSHChildren(name string) []client.Object {
	return []client.Object{
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name}},
		&gwapiv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Name: egressv1.RouteName(name, 443)}},
		&gwapiv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Name: egressv1.RouteName(name, 22)}},
		&istionetworking.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: name}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: egressv1.OptionsConfigMapName(name)}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name + "-ingress"}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name + "-egress"}},
	}
}
