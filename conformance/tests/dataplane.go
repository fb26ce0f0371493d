package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/egressgate/egressgate/conformance/suite"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

func init() {
	register(suite.ConformanceTest{
		ShortName:   "DataPlaneTLS",
		Description: "A labelled client pod in a namespace under the default-deny example, resolving the host through the cluster's DNS, completes an HTTPS request with the real host through the gateway.",
		Features:    []suite.Feature{suite.FeatureDataPlaneTLS, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test: func(t *testing.T, s *suite.Suite) {
			testDataPlane(t, s, "dataplane-tls", "TLS/443", "curlimages/curl:8.10.1",
				[]string{"curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}", "https://" + s.DataPlaneHost + "/"},
				func(out string) error {
					if len(out) != 3 || out[0] < '2' || out[0] > '4' {
						return fmt.Errorf("HTTP status %q", out)
					}
					return nil
				})
		},
	})
	register(suite.ConformanceTest{
		ShortName:   "DataPlaneSSH",
		Description: "A labelled client pod in a namespace under the default-deny example reads the real host's SSH host keys on port 22 through the gateway.",
		Features:    []suite.Feature{suite.FeatureDataPlaneSSH, suite.FeatureDNSHijack, suite.FeatureExternalService},
		Test: func(t *testing.T, s *suite.Suite) {
			testDataPlane(t, s, "dataplane-ssh", "TCP/22", "alpine/git:2.45.2",
				[]string{"ssh-keyscan", "-T", "30", s.DataPlaneHost},
				func(out string) error {
					if !strings.Contains(out, s.DataPlaneHost+" ssh-") {
						return fmt.Errorf("no host key in %q", out)
					}
					return nil
				})
		},
	})
}

// testDataPlane runs command in a labelled client pod against
// DataPlaneHost through a hijacking gateway and checks its output.
func testDataPlane(t *testing.T, s *suite.Suite, name, port, image string, command []string, check func(string) error) {
	ctx := context.Background()
	s.Create(t, suite.NewExternalService(name, s.DataPlaneHost, true, port))
	s.WaitProgrammed(t, name)
	s.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "conformance-" + name}})
	// Locked down: the client can reach DNS and the gateways, not the
	// host itself, so success proves the path through the gateway.
	s.Create(t, defaultDenyExample(t, "conformance-"+name))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "conformance-" + name, Labels: map[string]string{egressv1.AllowedLabel(name): "true"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "client", Image: image, Command: command}},
		},
	}
	s.Create(t, pod)
	s.Eventually(t, "the client pod finishes", s.Timeouts.DataPlane, func() error {
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, pod); err != nil {
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
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%v failed: %s", command, out)
	}
	if err := check(out); err != nil {
		t.Errorf("%v: %v", command, err)
	}
}
