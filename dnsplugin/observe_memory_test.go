package dnsplugin

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/egressgate/egressgate/internal/testenv"
)

// What observe mode costs in memory, measured as the live heap after a GC
// before and after: the pod, ReplicaSet and Job caches per 1000 pods (on a
// real API server), and the recorder per entry. The bounds are what
// dnsplugin/README.md promises, with room; the figures are logged.

// heapAfterGC is the live heap in bytes.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestObserveMemoryPer1000Pods(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1000 pods on an API server")
	}
	env := testenv.StartOurs(t)
	ctx := t.Context()
	const pods, namespaces = 1000, 10
	for n := range namespaces {
		if err := env.CreateNamespace(ctx, fmt.Sprintf("ns-%d", n)); err != nil {
			t.Fatal(err)
		}
	}
	// The fixed cost: clients, informers and their first (empty) lists.
	base := heapAfterGC()
	ws, err := newWorkloadSource(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ws.Start()
	defer ws.Stop()
	testenv.Eventually(t, "the empty lists", 60*time.Second, func() error {
		if !ws.HasSynced() {
			return fmt.Errorf("not synced")
		}
		return nil
	})
	before := heapAfterGC()
	t.Logf("observe mode's informers, started on an empty cluster: %d KiB", (int64(before)-int64(base))/1024)

	var g errgroup.Group
	g.SetLimit(8)
	for i := range pods {
		g.Go(func() error { return createRealisticPod(ctx, env, i, namespaces) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "every pod with its IP", 60*time.Second, func() error {
		if n := len(ws.pods.GetIndexer().ListIndexFuncValues(podIPIndex)); n != pods {
			return fmt.Errorf("%d pod IPs known", n)
		}
		return nil
	})
	after := heapAfterGC()
	perThousand := float64(after-before) / pods * 1000
	t.Logf("observe mode's caches, %d pods added: heap %d → %d bytes after GC: %.0f KiB per 1000 pods", pods, before, after, perThousand/1024)
	if got := ws.resolve(mustAddr(t, "10.1.0.7")); got.workload.Kind != "ReplicaSet" || !got.pod {
		t.Errorf("10.1.0.7 resolves to %+v, want the pod's ReplicaSet (none of them is created)", got)
	}
	if perThousand > 1.5*(1<<20) {
		t.Errorf("%.0f KiB per 1000 pods; the README promises about 1 MiB", perThousand/1024)
	}
	runtime.KeepAlive(ws)
}

// createRealisticPod creates pod i the way a Deployment's would look: a
// ReplicaSet owner, labels and annotations, two containers with
// environment, resources and probes; then gives it an IP.
func createRealisticPod(ctx context.Context, env *testenv.Env, i, namespaces int) error {
	app := fmt.Sprintf("app-%d", i%100)
	env1 := make([]corev1.EnvVar, 20)
	for j := range env1 {
		env1[j] = corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: fmt.Sprintf("value-of-setting-%d-for-%s", j, app)}
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intOrString(8080)}}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-5d8f7c-%05d", app, i), Namespace: fmt.Sprintf("ns-%d", i%namespaces),
			Labels: map[string]string{"app": app, "pod-template-hash": "5d8f7c", "team": "payments", "version": "v1.42.0",
				"egress.monzo.com/allowed-github": "true"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-5d8f7c",
				UID: "6a1b2c3d-0000-4000-8000-000000000000", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.example/" + app + ":v1.42.0", Env: env1, Resources: res, ReadinessProbe: probe, LivenessProbe: probe},
				{Name: "sidecar", Image: "registry.example/sidecar:v3", Env: env1[:5], Resources: res},
			},
		},
	}
	if err := env.Client.Create(ctx, p); err != nil {
		return err
	}
	ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	return env.Client.Status().Update(ctx, p)
}

// The recorder's cost per entry, for the README: 10,000 entries of
// realistic names.
func TestRecorderMemoryPerEntry(t *testing.T) {
	const n = 10000
	before := heapAfterGC()
	r := newRecorder(n)
	for i := range n {
		w := workload{Namespace: fmt.Sprintf("team-%d", i%50), Kind: "Deployment", Name: fmt.Sprintf("service-%d", i%500)}
		r.record(lookup{src: newSource(w, []string{"github"}, true), qname: fmt.Sprintf("api-%d.partner-%d.example.com.", i, i%97), qtype: dns.TypeA, at: epoch})
	}
	after := heapAfterGC()
	per := float64(after-before) / n
	t.Logf("recorder: %d entries, heap %d → %d bytes after GC: %.0f bytes per entry", n, before, after, per)
	if per > 1024 {
		t.Errorf("%.0f bytes per entry; the README promises under 1 KiB", per)
	}
	runtime.KeepAlive(r)
	r.forget()
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt(port) }

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
