package dnsplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// A flood of far more distinct names than max_entries keeps exactly
// max_entries entries, evicts exactly the least recently seen, and the
// metrics say so.
func TestRecorderStaysWithinCap(t *testing.T) {
	entriesBefore := testutil.ToFloat64(observedEntries)
	evictionsBefore := testutil.ToFloat64(observedEvictions)
	const max, flood = 100, 100_000
	r := newRecorder(max)
	web := workload{Namespace: "team", Kind: "Deployment", Name: "web"}
	now := epoch
	// "keep" is looked up again and again during the flood: never the
	// least recently seen, never evicted.
	for i := range flood {
		now = now.Add(time.Millisecond)
		r.record(lookup{src: newSource(web, nil, false), qname: fmt.Sprintf("n%d.example.org.", i), qtype: dns.TypeA, at: now})
		if i%10 == 0 {
			r.record(lookup{src: newSource(web, nil, false), qname: "keep.example.org.", qtype: dns.TypeA, at: now})
		}
		if n := r.len(); n > max {
			t.Fatalf("after %d names the recorder holds %d entries, more than max_entries %d", i+1, n, max)
		}
	}
	rep := r.report()
	if len(rep.Entries) != max {
		t.Fatalf("report has %d entries, want %d", len(rep.Entries), max)
	}
	if got := testutil.ToFloat64(observedEntries) - entriesBefore; got != max {
		t.Errorf("observed_entries grew by %v, want %d", got, max)
	}
	wantEvicted := flood + 1 - max
	if got := testutil.ToFloat64(observedEvictions) - evictionsBefore; got != float64(wantEvicted) {
		t.Errorf("observed_evictions_total grew by %v, want %d", got, wantEvicted)
	}
	if rep.Evictions != uint64(wantEvicted) {
		t.Errorf("report says %d evictions, want %d", rep.Evictions, wantEvicted)
	}
	// Exactly the most recently seen: keep and the last max-1 names.
	found := map[string]bool{}
	for _, e := range rep.Entries {
		found[e.Name] = true
	}
	missing := []string{}
	for i := flood - (max - 1); i < flood; i++ {
		if name := fmt.Sprintf("n%d.example.org.", i); !found[name] {
			missing = append(missing, name)
		}
	}
	if !found["keep.example.org."] || len(missing) > 0 {
		t.Errorf("keep kept: %v; of the %d most recent names these were evicted: %v", found["keep.example.org."], max-1, missing)
	}
	r.forget()
	if got := testutil.ToFloat64(observedEntries); got != entriesBefore {
		t.Errorf("observed_entries is %v after forget, want %v", got, entriesBefore)
	}
}

// Entries count, keep the first and last time and the last rcode, and the
// report is sorted whatever the order of lookups.
func TestRecorderReport(t *testing.T) {
	r := newRecorder(10)
	web := workload{Namespace: "team", Kind: "Deployment", Name: "web"}
	db := workload{Namespace: "data", Kind: "StatefulSet", Name: "db"}
	r.record(lookup{src: newSource(web, nil, false), qname: "b.example.org.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, at: epoch})
	r.record(lookup{src: newSource(web, nil, false), qname: "b.example.org.", qtype: dns.TypeA, rcode: dns.RcodeNameError, at: epoch})
	r.record(lookup{src: newSource(db, nil, false), qname: "a.example.org.", qtype: dns.TypeA, at: epoch})
	r.record(lookup{src: newSource(workload{Kind: kindUnknown, Name: "10.0.0.1"}, nil, false), qname: "c.example.org.", qtype: 65280, rcode: 3000, at: epoch})
	r.record(lookup{src: newSource(web, []string{"b"}, true), qname: "b.example.org.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, service: "b", at: epoch.Add(time.Minute)})
	got, err := json.Marshal(r.report())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workloadsSynced":false,"maxEntries":10,"evictions":0,"entries":[` +
		`{"kind":"Unknown","workload":"10.0.0.1","name":"c.example.org.","type":"TYPE65280","rcode":"RCODE3000","firstSeen":"2026-01-02T03:04:05Z","lastSeen":"2026-01-02T03:04:05Z","count":1},` +
		`{"namespace":"data","kind":"StatefulSet","workload":"db","name":"a.example.org.","type":"A","rcode":"NOERROR","firstSeen":"2026-01-02T03:04:05Z","lastSeen":"2026-01-02T03:04:05Z","count":1},` +
		`{"namespace":"team","kind":"Deployment","workload":"web","name":"b.example.org.","type":"A","rcode":"NOERROR","externalService":"b","allowedFor":["b"],"firstSeen":"2026-01-02T03:04:05Z","lastSeen":"2026-01-02T03:05:05Z","count":2},` +
		`{"namespace":"team","kind":"Deployment","workload":"web","name":"b.example.org.","type":"AAAA","rcode":"NOERROR","firstSeen":"2026-01-02T03:04:05Z","lastSeen":"2026-01-02T03:04:05Z","count":1}]}`
	if string(got) != want {
		t.Errorf("report:\n got %s\nwant %s", got, want)
	}
	r.setMax(1)
	if rep := r.report(); len(rep.Entries) != 1 || rep.Entries[0].Type != "A" || rep.Entries[0].Workload != "web" || rep.Evictions != 3 {
		t.Errorf("after setMax(1): %+v; want only web's b.example.org A, the most recent, and 3 evictions", rep)
	}
}

// observedHijacker is the fuzz table's handler in observe mode, with a
// recorder of max entries and no Kubernetes behind it (every source is
// Unknown).
func observedHijacker(max int, suffixes ...string) (*Hijacker, *observer) {
	h := fuzzHijacker()
	o := &observer{recorder: newRecorder(max), refusals: &refusalReporter{last: map[refusalKey]time.Time{}, queue: make(chan refusal, 1), interval: time.Minute}}
	h.observe = &observeHook{cfg: &observeConfig{maxEntries: max, searchSuffixes: suffixes}, zone: canonicalName(DefaultZone)}
	h.observe.o.Store(o)
	return h, o
}

// What is recorded and what is not: names in the cluster domain, reverse
// names and search-path expansions answered NXDOMAIN are not; hijacked and
// pass-through names are, with the rcode the client got.
func TestObserveRules(t *testing.T) {
	h, o := observedHijacker(100, ".ec2.internal.")
	nx := test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		_ = w.WriteMsg(m)
		return dns.RcodeNameError, nil
	})
	for _, c := range []struct {
		name  string
		qtype uint16
		next  test.HandlerFunc // nil: leakyUpstream
	}{
		{"api.example.org.", dns.TypeA, nil},                        // hijacked: NOERROR
		{"noaddr.example.org.", dns.TypeA, nil},                     // hijacked, no address: SERVFAIL
		{"GitHub.com.", dns.TypeAAAA, nil},                          // pass-through, recorded lowercase
		{"github.com.ec2.internal.", dns.TypeA, nx},                 // expansion: not recorded
		{"host.ec2.internal.", dns.TypeA, nil},                      // a real name under the suffix: recorded
		{"typo.example.org.", dns.TypeA, nx},                        // NXDOMAIN outside the suffixes: recorded
		{"web.team.svc.cluster.local.", dns.TypeA, nil},             // cluster domain
		{"cluster.local.", dns.TypeSOA, nil},                        // the zone itself
		{"1.0.96.10.in-addr.arpa.", dns.TypePTR, nil},               // reverse
		{"b.a.9.8.ip6.arpa.", dns.TypePTR, nil},                     // reverse
		{".", dns.TypeNS, nil},                                      // root
		{"api.example.org.team.svc.cluster.local.", dns.TypeA, nil}, // in-cluster expansion
	} {
		h.Next = leakyUpstream
		if c.next != nil {
			h.Next = c.next
		}
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := h.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion(c.name, c.qtype)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range o.recorder.report().Entries {
		got = append(got, fmt.Sprintf("%s %s/%s %s %s %s es=%s", e.Namespace, e.Kind, e.Workload, e.Name, e.Type, e.Rcode, e.ExternalService))
	}
	want := []string{
		" Unknown/10.240.0.1 api.example.org. A NOERROR es=api",
		" Unknown/10.240.0.1 github.com. AAAA NOERROR es=",
		" Unknown/10.240.0.1 host.ec2.internal. A NOERROR es=",
		" Unknown/10.240.0.1 noaddr.example.org. A SERVFAIL es=none",
		" Unknown/10.240.0.1 typo.example.org. A NXDOMAIN es=",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("recorded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzObserve sends arbitrary wire messages through the recording path:
// no panic, never more than max_entries entries, nothing from the cluster
// domain or the reverse zones recorded, and the report always encodes.
func FuzzObserve(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"api.example.org.", dns.TypeA}, {"github.com.ec2.internal.", dns.TypeA}, {"x.svc.cluster.local.", dns.TypeA},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR}, {"\\255\\000weird.example.", dns.TypeTXT}, {strings.Repeat("a.", 120), dns.TypeA},
	} {
		m := new(dns.Msg).SetQuestion(q.name, q.qtype)
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, "10.0.0.1")
	}
	const max = 8
	h, o := observedHijacker(max, ".ec2.internal.")
	f.Fuzz(func(t *testing.T, wire []byte, from string) {
		r := new(dns.Msg)
		if err := r.Unpack(wire); err != nil {
			return
		}
		w := &test.ResponseWriter{RemoteIP: from}
		if net.ParseIP(from) == nil {
			w.RemoteIP = "10.0.0.1"
		}
		if _, err := h.ServeDNS(context.Background(), dnstest.NewRecorder(w), r); err != nil {
			t.Fatalf("ServeDNS returned an error: %v", err)
		}
		rep := o.recorder.report()
		if len(rep.Entries) > max {
			t.Fatalf("%d entries, more than max_entries %d", len(rep.Entries), max)
		}
		for _, e := range rep.Entries {
			if egressv1.InClusterDomain(e.Name, DefaultZone) || strings.HasSuffix(e.Name, ".in-addr.arpa.") || strings.HasSuffix(e.Name, ".ip6.arpa.") || e.Name == "." {
				t.Fatalf("recorded %s, which observe mode must not record", e.Name)
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
	})
}

// Queries, reports and cap changes at once (run with -race): the recorder
// stays within its cap and consistent.
func TestObserveConcurrent(t *testing.T) {
	h, o := observedHijacker(50)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m := new(dns.Msg).SetQuestion(fmt.Sprintf("n%d-%d.example.org.", g, i%80), dns.TypeA)
				if _, err := h.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: fmt.Sprintf("10.0.0.%d", g)}), m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if rep := o.recorder.report(); len(rep.Entries) > 50 {
				t.Errorf("%d entries, cap 50", len(rep.Entries))
			}
			if i%50 == 0 {
				o.recorder.setMax(40 + i%20)
			}
		}
	}()
	wg.Wait()
	<-done
	if n := o.recorder.len(); n > 50 || n == 0 {
		t.Errorf("%d entries at the end", n)
	}
	o.recorder.forget()
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc ": "abc", "BEARER  abc": "abc",
		"": "", "Bearer": "", "Bearer ": "", "Basic abc": "", "abc": "",
	} {
		got, ok := bearerToken(header)
		if got != want && ok || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

// CoreDNS's metrics name the plugin that wrote each response (the
// plugin label of coredns_dns_responses_total): recording a query must
// not change it.
func TestObservePassOnKeepsWritingPlugin(t *testing.T) {
	h, _ := observedHijacker(100)
	h.Next = leakyUpstream
	observe := h.observe
	for _, on := range []bool{false, true} {
		h.observe = nil
		if on {
			h.observe = observe
		}
		for _, name := range []string{"github.com.", "api.example.org."} {
			w := metrics.NewRecorder(&test.ResponseWriter{})
			if _, err := h.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion(name, dns.TypeA)); err != nil {
				t.Fatal(err)
			}
			want := leakyUpstream.Name() // CoreDNS's writer around the next plugin names it
			if name == "api.example.org." {
				want = "" // hijacked: answered by egressoperator, whose own wrapper is the caller's
			}
			if got := w.GetPlugin(); got != want {
				t.Errorf("observe %t, %s: written by %q, want %q", on, name, got, want)
			}
		}
	}
}
