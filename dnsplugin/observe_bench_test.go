package dnsplugin

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Observe mode's cost per query, without sockets: queries cycling over 1000
// names (so the recorder's entries do not all sit in the CPU's cache), from
// a pod of a Deployment (its ReplicaSet known) and from an address no pod
// has, hijacked and pass-through, each with observe off and on; the
// difference of a pair is what observe adds.
func BenchmarkServeDNSObserved(b *testing.B) {
	h, o := observedHijacker(DefaultMaxEntries)
	h.Next = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		_ = w.WriteMsg(new(dns.Msg).SetReply(r))
		return dns.RcodeSuccess, nil
	})
	o.workloads = benchWorkloads(b)
	o.clock = startClock()
	b.Cleanup(o.clock.Stop)
	hook := h.observe
	for _, c := range []struct{ name, qname, from string }{
		{"pass-through/pod", "p-%03d.github.com.", "10.1.0.7"},
		{"pass-through/unknown", "p-%03d.github.com.", "127.0.0.1"},
		{"hijacked/pod", "api.example.org.", "10.1.0.7"},
	} {
		queries := make([]*dns.Msg, 1000)
		for i := range queries {
			queries[i] = new(dns.Msg).SetQuestion(strings.Replace(c.qname, "%03d", strconv.Itoa(i), 1), dns.TypeA)
		}
		w := &fixedAddrWriter{addr: &net.UDPAddr{IP: net.ParseIP(c.from), Port: 40000}}
		for _, observe := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/observe=%t", c.name, observe), func(b *testing.B) {
				h.observe = nil
				if observe {
					h.observe = hook
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := h.ServeDNS(context.Background(), w, queries[i%len(queries)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// fixedAddrWriter is test.ResponseWriter with the remote address made
// once, as CoreDNS's own writer does (test.ResponseWriter parses it on
// every call).
type fixedAddrWriter struct {
	test.ResponseWriter
	addr net.Addr
}

func (w *fixedAddrWriter) RemoteAddr() net.Addr { return w.addr }

// benchWorkloads is a workload source whose caches hold 1000 pods of 100
// Deployments, filled directly (the informers never run).
func benchWorkloads(b *testing.B) *workloadSource {
	ws := &workloadSource{
		pods:        cache.NewSharedIndexInformer(nil, &corev1.Pod{}, 0, cache.Indexers{podIPIndex: indexPodIPs}),
		replicaSets: cache.NewSharedIndexInformer(nil, &metav1.PartialObjectMetadata{}, 0, cache.Indexers{}),
		jobs:        cache.NewSharedIndexInformer(nil, &metav1.PartialObjectMetadata{}, 0, cache.Indexers{}),
	}
	for i := range 1000 {
		app := fmt.Sprintf("app-%d", i%100)
		rs := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: app + "-5d8f7c", Namespace: "team",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: app, Controller: ptr.To(true)}}}}
		pod := &observedPod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-5d8f7c-%d", app, i), Namespace: "team",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, Controller: ptr.To(true)}}},
			ips: []netip.Addr{netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 7)})},
		}
		for _, add := range []error{ws.replicaSets.GetIndexer().Add(rs), ws.pods.GetIndexer().Add(pod)} {
			if add != nil {
				b.Fatal(add)
			}
		}
	}
	return ws
}
