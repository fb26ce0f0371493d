package main

// `egressctl dns` against a real kube-apiserver holding CoreDNS as kubeadm
// installs it, and the Corefile it writes run by the real bin/coredns
// (dns_coredns_test.go). The API server has no Deployment controller and no
// kubelet, so simulateRollouts writes the Deployment's status as they would
// once a rollout finished: that way enable and disable run with --wait, as a
// user runs them, and their wait on observedGeneration, updatedReplicas and
// availableReplicas is exercised.

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/testenv"
)

const (
	testCoreDNSImage = "ghcr.io/egressgate/coredns:v0.0.0-test"
	stockImage       = "registry.k8s.io/coredns/coredns:v1.14.6"
)

type dnsCluster struct {
	env        *testenv.Env
	cs         kubernetes.Interface
	kubeconfig string
}

// startDNSCluster starts an API server with the ExternalService CRD, the
// namespaces kube-system and egress-operator-system, and a kubeconfig for
// egressctl.
func startDNSCluster(t *testing.T) *dnsCluster {
	t.Helper()
	env := testenv.StartOurs(t)
	d := &dnsCluster{env: env, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := env.WriteKubeconfig(d.kubeconfig); err != nil {
		t.Fatal(err)
	}
	var err error
	if d.cs, err = kubernetes.NewForConfig(env.Config); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"kube-system", egressv1.DefaultGatewayNamespace} {
		if err := env.CreateNamespace(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return d
}

// egressctl runs egressctl with args and --kubeconfig, and returns what it
// printed.
func (d *dnsCluster) egressctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--kubeconfig", d.kubeconfig))
	err := root.ExecuteContext(t.Context())
	if testing.Verbose() {
		t.Logf("egressctl %s: error %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// simulateRollouts plays the Deployment controller and kubelet for the
// Deployment namespace/name: whenever its generation is ahead of its
// observedGeneration it writes, through the status subresource, the status
// of a finished rollout.
func (d *dnsCluster) simulateRollouts(t *testing.T, namespace, name string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			dep, err := d.cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || dep.Status.ObservedGeneration >= dep.Generation {
				continue
			}
			n := *dep.Spec.Replicas
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
			_, _ = d.cs.AppsV1().Deployments(namespace).UpdateStatus(ctx, dep, metav1.UpdateOptions{})
		}
	}()
}

func (d *dnsCluster) get(t *testing.T) (*appsv1.Deployment, *corev1.ConfigMap) {
	t.Helper()
	dep, err := d.cs.AppsV1().Deployments("kube-system").Get(t.Context(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := d.cs.CoreV1().ConfigMaps("kube-system").Get(t.Context(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep, cm
}

// words is s with every run of white space made one space, for output
// aligned in columns.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

// TestDNSEnableDisableOnKubeadmCluster runs enable, a second enable, the
// Corefile in the real CoreDNS, status, the stock-image mismatch, disable
// --dry-run and disable, in order, on one cluster.
func TestDNSEnableDisableOnKubeadmCluster(t *testing.T) {
	d := startDNSCluster(t)
	ctx := t.Context()
	for _, f := range []string{"testdata/dns/kubeadm.yaml", "../../config/coredns/rbac.yaml"} {
		if err := testenv.CreateFromFile(ctx, d.env.Client, f); err != nil {
			t.Fatal(err)
		}
	}
	d.simulateRollouts(t, "kube-system", "coredns")
	origDep, origCM := d.get(t)
	original := origCM.Data["Corefile"]

	checkEnableDryRun(t, d, origDep, origCM)

	out, err := d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--timeout", "1m")
	if err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	mustContain(t, "enable", out, "rolled out: observed generation 2 of 2, 2 of 2 replicas updated, 2 total, 2 available", "egressgate's DNS half is on.")
	dep, cm := d.get(t)
	checkGolden(t, filepath.Join("testdata", "dns", "kubeadm.enabled.Corefile"), cm.Data["Corefile"], "go test ./cmd/egressctl -run TestDNSEnableDisableOnKubeadmCluster -update")
	if got := cm.Annotations[egressv1.AnnotationOriginalCorefile]; got != original {
		t.Errorf("annotation %s = %q, want the original Corefile", egressv1.AnnotationOriginalCorefile, got)
	}
	checkEnabledDeployment(t, origDep, dep)

	out, err = d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage)
	if err != nil || !strings.Contains(out, "nothing to change") {
		t.Fatalf("second enable: %v\n%s", err, out)
	}
	if dep2, cm2 := d.get(t); dep2.ResourceVersion != dep.ResourceVersion || cm2.ResourceVersion != cm.ResourceVersion {
		t.Fatal("the second enable wrote to the Deployment or the ConfigMap")
	}

	t.Run("the enabled Corefile in the real CoreDNS answers a hijacked name with the gateway", func(t *testing.T) {
		testEnabledCorefileServes(t, d, cm.Data["Corefile"])
	})

	out, err = d.egressctl(t, "dns", "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	mustContain(t, "status", words(out), "Corefile names egressoperator: yes", testCoreDNSImage+" egressgate's CoreDNS", "DNS half: on")

	t.Run("--context picks the kubeconfig's context", func(t *testing.T) {
		kc, err := clientcmd.LoadFromFile(d.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := d.egressctl(t, "dns", "status", "--context", kc.CurrentContext); err != nil {
			t.Errorf("status --context %s: %v\n%s", kc.CurrentContext, err, out)
		}
		if _, err := d.egressctl(t, "dns", "status", "--context", "no-such-context"); err == nil || !strings.Contains(err.Error(), "no-such-context") {
			t.Errorf("status --context no-such-context: %v; want an error naming the context", err)
		}
	})

	t.Run("status reports the stock image with a Corefile naming egressoperator", func(t *testing.T) {
		testStatusMismatch(t, d)
	})

	dep, cm = d.get(t)
	out, err = d.egressctl(t, "dns", "disable", "--dry-run")
	if err != nil {
		t.Fatalf("disable --dry-run: %v\n%s", err, out)
	}
	mustContain(t, "disable --dry-run", out, "-    egressoperator egress-operator-system cluster.local {", "+container coredns image: "+stockImage, "Dry run: nothing was written.")
	if dep2, cm2 := d.get(t); dep2.ResourceVersion != dep.ResourceVersion || cm2.ResourceVersion != cm.ResourceVersion {
		t.Fatal("disable --dry-run wrote to the Deployment or the ConfigMap")
	}

	out, err = d.egressctl(t, "dns", "disable", "--timeout", "1m")
	if err != nil {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	mustContain(t, "disable", out, "rolled out: observed generation 5 of 5, 2 of 2 replicas updated, 2 total, 2 available", "egressgate's DNS half is off.")
	dep, cm = d.get(t)
	if cm.Data["Corefile"] != original {
		t.Errorf("disable did not restore the Corefile byte for byte:\n%s", cmp.Diff(original, cm.Data["Corefile"]))
	}
	if diff := cmp.Diff(origCM.Annotations, cm.Annotations); diff != "" {
		t.Errorf("ConfigMap annotations after disable (-before enable +after disable):\n%s", diff)
	}
	if diff := cmp.Diff(origDep.Spec.Template, dep.Spec.Template); diff != "" {
		t.Errorf("pod template after disable (-before enable +after disable):\n%s", diff)
	}
	if diff := cmp.Diff(origDep.Annotations, dep.Annotations); diff != "" {
		t.Errorf("Deployment annotations after disable (-before enable +after disable):\n%s", diff)
	}

	out, err = d.egressctl(t, "dns", "disable")
	if err == nil || !strings.Contains(err.Error(), "was never run") {
		t.Errorf("disable after disable: want a refusal saying enable was never run, got %v\n%s", err, out)
	}
}

// checkEnableDryRun runs enable --dry-run: the diffs, and not one write.
func checkEnableDryRun(t *testing.T, d *dnsCluster, origDep *appsv1.Deployment, origCM *corev1.ConfigMap) {
	t.Helper()
	out, err := d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--dry-run")
	if err != nil {
		t.Fatalf("enable --dry-run: %v\n%s", err, out)
	}
	mustContain(t, "enable --dry-run", out,
		"--- ConfigMap kube-system/coredns key Corefile", "+    egressoperator egress-operator-system cluster.local {",
		"+       snapshot /var/run/egressoperator/table.json", "-container coredns image: "+stockImage,
		"+container coredns image: "+testCoreDNSImage, "+volume egressoperator-snapshot: emptyDir true",
		"+container coredns mounts egressoperator-snapshot at /var/run/egressoperator", "Dry run: nothing was written.")
	if dep, cm := d.get(t); dep.ResourceVersion != origDep.ResourceVersion || cm.ResourceVersion != origCM.ResourceVersion {
		t.Fatal("enable --dry-run wrote to the Deployment or the ConfigMap")
	}
}

// checkEnabledDeployment checks the Deployment enable left: the original
// with egressgate's image, the snapshot emptyDir mounted at the snapshot
// directory, and the annotations disable reads; nothing else changed.
func checkEnabledDeployment(t *testing.T, orig, got *appsv1.Deployment) {
	t.Helper()
	want := orig.Spec.Template.DeepCopy()
	want.Spec.Containers[0].Image = testCoreDNSImage
	want.Spec.Volumes = append(want.Spec.Volumes, corev1.Volume{Name: "egressoperator-snapshot", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	want.Spec.Containers[0].VolumeMounts = append(want.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "egressoperator-snapshot", MountPath: "/var/run/egressoperator"})
	if diff := cmp.Diff(*want, got.Spec.Template); diff != "" {
		t.Errorf("pod template after enable (-want +got):\n%s", diff)
	}
	wantAnnotations := map[string]string{
		egressv1.AnnotationOriginalImage:  stockImage,
		egressv1.AnnotationCoreDNSImage:   testCoreDNSImage,
		egressv1.AnnotationSnapshotVolume: "egressoperator-snapshot",
	}
	for k, v := range orig.Annotations {
		wantAnnotations[k] = v
	}
	if diff := cmp.Diff(wantAnnotations, got.Annotations); diff != "" {
		t.Errorf("Deployment annotations after enable (-want +got):\n%s", diff)
	}
}

// testStatusMismatch puts the stock image back as a cluster upgrade would,
// expects status to fail loudly, then repairs it with enable.
func testStatusMismatch(t *testing.T, d *dnsCluster) {
	dep, _ := d.get(t)
	dep.Spec.Template.Spec.Containers[0].Image = stockImage
	if _, err := d.cs.AppsV1().Deployments("kube-system").Update(t.Context(), dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := d.egressctl(t, "dns", "status")
	if err == nil {
		t.Fatalf("status succeeded with the stock image and egressoperator in the Corefile:\n%s", out)
	}
	mustContain(t, "status", out, "MISMATCH", "DANGER", "crash-loop", stockImage)
	mustContain(t, "status error", err.Error(), "names egressoperator", "not egressgate's CoreDNS")

	out, err = d.egressctl(t, "dns", "enable", "--image", testCoreDNSImage, "--timeout", "1m")
	if err != nil {
		t.Fatalf("enable to repair: %v\n%s", err, out)
	}
	if out, err := d.egressctl(t, "dns", "status"); err != nil {
		t.Fatalf("status after the repair: %v\n%s", err, out)
	}
}

// TestDNSCommandNeedsImageForDevBuilds: a test binary is a development
// build, which has no published CoreDNS image.
func TestDNSCommandNeedsImageForDevBuilds(t *testing.T) {
	if _, err := defaultCoreDNSImage(); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("defaultCoreDNSImage() = %v, want an error asking for --image", err)
	}
}
