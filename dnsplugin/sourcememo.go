package dnsplugin

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// sourceMemo remembers what workloadSource.resolve answered for each source
// IP, so a query costs one map read instead of an index lookup, an owner
// walk and the IP's string form (a third of observe mode's cost per query
// before it existed; see BenchmarkServeDNSObserved).
//
// A pod event forgets the pod's old and new IPs; a ReplicaSet or Job that
// appears, goes or changes its controller forgets everything, since it
// changes the workload of pods not named in the event. An answer computed
// while an event was being handled is not kept (gen), so the memo is never
// staler than the caches it reads.
//
// Reads take no lock (a sync.Map, read-mostly: two lock operations per
// query were a sixth of observe mode's cost); writers serialise on mu.
type sourceMemo struct {
	mu sync.Mutex
	m  sync.Map // netip.Addr → *source
	n  int      // entries stored since the last clear; under mu
	// gen counts invalidations; written under mu.
	gen atomic.Uint64
}

// maxMemoSources bounds the memo; it starts over when full. Sources are
// pod and node IPs, but a CoreDNS reachable from outside the cluster could
// see any address.
const maxMemoSources = 16384

func (m *sourceMemo) get(ip netip.Addr) (*source, bool) {
	v, ok := m.m.Load(ip)
	if !ok {
		return nil, false
	}
	return v.(*source), true
}

// put keeps s for ip unless something was invalidated since gen was read.
func (m *sourceMemo) put(ip netip.Addr, s *source, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen.Load() != gen {
		return
	}
	if m.n >= maxMemoSources {
		m.m.Clear()
		m.n = 0
	}
	if _, loaded := m.m.Swap(ip, s); !loaded {
		m.n++
	}
}

// forget drops ips, or everything when all is set.
func (m *sourceMemo) forget(ips []netip.Addr, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if all {
		m.m.Clear()
		m.n = 0
	}
	for _, ip := range ips {
		if _, loaded := m.m.LoadAndDelete(ip); loaded {
			m.n--
		}
	}
	m.gen.Add(1)
}

// podHandler keeps the memo in step with the pod cache.
func (m *sourceMemo) podHandler() cache.ResourceEventHandler {
	ipsOf := func(obj any) ([]netip.Addr, bool) {
		p, ok := obj.(*observedPod)
		if !ok {
			return nil, false // a tombstone: which pod it was is unknown
		}
		return p.ips, true
	}
	forgetPod := func(obj any) {
		ips, ok := ipsOf(obj)
		m.forget(ips, !ok)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: forgetPod,
		UpdateFunc: func(old, updated any) {
			before, ok1 := ipsOf(old)
			after, ok2 := ipsOf(updated)
			m.forget(slices.Concat(before, after), !ok1 || !ok2)
		},
		DeleteFunc: forgetPod,
	}
}

// ownerHandler keeps the memo in step with the ReplicaSet or Job cache.
func (m *sourceMemo) ownerHandler() cache.ResourceEventHandler {
	forgetAll := func(any) { m.forget(nil, true) }
	return cache.ResourceEventHandlerFuncs{
		AddFunc: forgetAll,
		UpdateFunc: func(old, updated any) {
			o, ok1 := old.(metav1.Object)
			u, ok2 := updated.(metav1.Object)
			if !ok1 || !ok2 || !slices.EqualFunc(o.GetOwnerReferences(), u.GetOwnerReferences(), sameOwner) {
				forgetAll(updated)
			}
		},
		DeleteFunc: forgetAll,
	}
}

func sameOwner(a, b metav1.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name
}
