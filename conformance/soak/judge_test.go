package soak

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/conformance/embedded"
)

const host = "a." + embedded.ExternalDomain

// hijacked is an ExternalService for host, created at created, with
// DNSHijacked=True and one gateway address.
func hijacked(name string, created time.Time, addr string) *egressv1.ExternalService {
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       egressv1.ExternalServiceSpec{DnsName: host, HijackDns: true},
		Status: egressv1.ExternalServiceStatus{
			Addresses:  []string{addr},
			Conditions: []metav1.Condition{{Type: egressv1.ConditionDNSHijacked, Status: metav1.ConditionTrue}},
		},
	}
}

func reply(addrs ...string) answer {
	return answer{name: host, qtype: dns.TypeA, fromClient: true, rcode: dns.RcodeSuccess, addrs: addrs}
}

func at(a answer, sent time.Time) answer {
	a.sent, a.recv = sent, sent.Add(10*time.Millisecond)
	return a
}

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	m := newModel()
	m.upsert(hijacked("a", t0.Add(-time.Hour), "10.96.0.10"), t0)
	up, gw := reply(embedded.UpstreamIPv4), reply("10.96.0.10")
	cases := []struct {
		what    string
		a       answer
		apiBack time.Time
		want    verdict
	}{
		{"the gateway answer once hijacked", at(gw, t0.Add(2*time.Second)), time.Time{}, correct},
		{"upstream just before the hijack, within the watch skew", at(up, t0.Add(-500*time.Millisecond)), time.Time{}, transitional},
		{"upstream while the plugin is catching up, before any hijacked answer", at(up, t0.Add(2*time.Second)), time.Time{}, transitional},
		{"upstream after a hijacked answer: a leak", at(up, t0.Add(3*time.Second)), time.Time{}, leak},
		{"upstream from a gateway pod", func() answer { a := at(up, t0.Add(3*time.Second)); a.fromClient = false; return a }(), time.Time{}, correct},
		{"the gateway answer to a gateway pod", func() answer { a := at(gw, t0.Add(3*time.Second)); a.fromClient = false; return a }(), time.Time{}, wrong},
		{"a wrong address long after the change", at(reply("10.96.0.99"), t0.Add(10*time.Second)), time.Time{}, wrong},
		{"a wrong address right after the API server came back", at(reply("10.96.0.99"), t0.Add(10*time.Second)), t0.Add(-5 * time.Second), transitional},
		{"no reply", answer{name: host, fromClient: true, err: errTest}, time.Time{}, noAnswer},
	}
	for _, c := range cases {
		if got := m.judge(c.a, c.apiBack).verdict; got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.what, got, c.want)
		}
	}
}

// TestJudgeLeakWithoutHijackedAnswer: a name hijacked for longer than the
// bound leaks even if no client ever got its gateway answer.
func TestJudgeLeakWithoutHijackedAnswer(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	m := newModel()
	m.upsert(hijacked("a", t0.Add(-time.Hour), "10.96.0.10"), t0)
	if got := m.judge(at(reply(embedded.UpstreamIPv4), t0.Add(followBound+time.Second)), time.Time{}).verdict; got != leak {
		t.Errorf("upstream %s after the hijack: verdict %d, want leak (%d)", followBound+time.Second, got, leak)
	}
}

// TestModelOwner: the oldest claimant owns the name; when it is deleted the
// next one does, and its state (not hijacked) is the expected one.
func TestModelOwner(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	m := newModel()
	old := hijacked("b-old", t0.Add(-time.Hour), "10.96.0.10")
	newer := hijacked("a-new", t0, "10.96.0.20")
	newer.Status.Conditions = nil
	m.upsert(old, t0)
	m.upsert(newer, t0.Add(time.Second))
	if got := m.window(host, t0.Add(2*time.Second), t0.Add(2*time.Second)).current; got.kind != gateway || got.addrs[0] != "10.96.0.10" {
		t.Errorf("with both claimants: %s, want the older one's gateway 10.96.0.10", got)
	}
	m.remove(old.Name, t0.Add(3*time.Second))
	if got := m.window(host, t0.Add(4*time.Second), t0.Add(4*time.Second)).current; got.kind != upstream {
		t.Errorf("after the owner's deletion: %s, want upstream (the new owner is not hijacked)", got)
	}
}

func TestGrowthViolations(t *testing.T) {
	base := Sample{Heap: 40 << 20, HeapMetric: "go_gc_heap_live_bytes", Goroutines: 100, FDs: 30}
	if v := growthViolations("x", base, Sample{Heap: 55 << 20, Goroutines: 119, FDs: 50}); len(v) != 0 {
		t.Errorf("growth within the margins reported: %v", v)
	}
	v := growthViolations("x", base, Sample{Heap: 60 << 20, HeapMetric: "go_gc_heap_live_bytes", Goroutines: 130, FDs: 51})
	if len(v) != 3 || !strings.Contains(v[0], "heap") || !strings.Contains(v[1], "goroutines") || !strings.Contains(v[2], "file descriptors") {
		t.Errorf("growth beyond every margin: %q, want heap, goroutines and file descriptors named", v)
	}
}

var errTest = errTimeout{}

type errTimeout struct{}

func (errTimeout) Error() string { return "i/o timeout" }
