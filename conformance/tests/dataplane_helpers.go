package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/egressgate/egressgate/conformance/suite"
)

// testDataPlane runs the client pod of the manifest at path against
// DataPlaneHost through the hijacking gateway name and checks its output.
// The manifest holds the ExternalService name, the namespace
// conformance-<name> and the Pod client in it.
func testDataPlane(t *testing.T, s *suite.Suite, name, path string, check func(string) error) {
	ctx := context.Background()
	m := readManifest(t, s, path)
	s.Create(t, m.externalService(name))
	s.WaitProgrammed(t, name)
	namespace := "conformance-" + name
	s.Create(t, m.object("Namespace", namespace))
	// Locked down: the client can reach DNS and the gateways, not the
	// host itself, so success proves the path through the gateway.
	s.Create(t, defaultDenyExample(t, namespace))
	s.Create(t, m.object("Pod", "client"))
	pod := &corev1.Pod{}
	s.Eventually(t, "the client pod finishes", s.Timeouts.DataPlane, func() error {
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "client"}, pod); err != nil {
			return err
		}
		if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}
		return nil
	})
	cs, err := kubernetes.NewForConfig(s.RestConfig)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(string(logs))
	command := pod.Spec.Containers[0].Command
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%v failed: %s", command, out)
	}
	if err := check(out); err != nil {
		t.Errorf("%v: %v", command, err)
	}
}
