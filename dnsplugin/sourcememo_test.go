package dnsplugin

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// The memo never answers with what the caches no longer say: a pod that
// appears, moves to another IP or goes, and a ReplicaSet that appears, are
// seen by the next query from that IP. The informers are stood in for by
// filling the caches and calling the handlers as they do, in that order.
func TestSourceMemoFollowsTheCaches(t *testing.T) {
	ws := &workloadSource{
		pods:        cache.NewSharedIndexInformer(nil, &corev1.Pod{}, 0, cache.Indexers{podIPIndex: indexPodIPs}),
		replicaSets: cache.NewSharedIndexInformer(nil, &metav1.PartialObjectMetadata{}, 0, cache.Indexers{}),
	}
	pods, owners := ws.memo.podHandler(), ws.memo.ownerHandler()
	ip, other := netip.MustParseAddr("10.1.0.7"), netip.MustParseAddr("10.1.0.8")
	want := func(step string, at netip.Addr, kind, name string) {
		t.Helper()
		for range 2 { // the second answer comes from the memo
			if got := ws.resolve(at); got.workload.Kind != kind || got.workload.Name != name {
				t.Fatalf("%s: %s resolves to %s %q, want %s %q", step, at, got.workload.Kind, got.workload.Name, kind, name)
			}
		}
	}
	want("no pod yet", ip, kindUnknown, "10.1.0.7")

	pod := &observedPod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7c-x", Namespace: "team", ResourceVersion: "1",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f7c", Controller: ptr.To(true)}}},
		ips: []netip.Addr{ip},
	}
	mustDo(t, ws.pods.GetIndexer().Add(pod))
	pods.OnAdd(pod, false)
	want("pod added, its ReplicaSet not yet", ip, "ReplicaSet", "web-5d8f7c")

	rs := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7c", Namespace: "team",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Controller: ptr.To(true)}}}}
	mustDo(t, ws.replicaSets.GetIndexer().Add(rs))
	owners.OnAdd(rs, false)
	want("ReplicaSet added", ip, "Deployment", "web")

	moved := pod.DeepCopyObject().(*observedPod)
	moved.ResourceVersion, moved.ips = "2", []netip.Addr{other}
	mustDo(t, ws.pods.GetIndexer().Update(moved))
	pods.OnUpdate(pod, moved)
	want("pod moved, old IP", ip, kindUnknown, "10.1.0.7")
	want("pod moved, new IP", other, "Deployment", "web")

	mustDo(t, ws.pods.GetIndexer().Delete(moved))
	pods.OnDelete(cache.DeletedFinalStateUnknown{Key: "team/web-5d8f7c-x", Obj: moved})
	want("pod gone (tombstone)", other, kindUnknown, "10.1.0.8")
}

// An answer computed while an event was handled is not kept.
func TestSourceMemoDropsStaleAnswers(t *testing.T) {
	var m sourceMemo
	ip := netip.MustParseAddr("10.1.0.7")
	gen := m.gen.Load()
	m.forget([]netip.Addr{ip}, false) // an event arrives while resolve reads the caches
	m.put(ip, newSource(workload{Kind: kindUnknown, Name: "stale"}, nil, false), gen)
	if s, ok := m.get(ip); ok {
		t.Fatalf("memo kept %+v, computed before the event that invalidated it", s)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
