package dnsplugin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// fakeSource serves a fixed table, in place of the Kubernetes watcher.
type fakeSource struct {
	table  *Table
	synced bool
}

func (f *fakeSource) Start() error    { return nil }
func (f *fakeSource) Stop() error     { return nil }
func (f *fakeSource) HasSynced() bool { return f.synced }
func (f *fakeSource) Table() *Table   { return f.table }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// externalService is an ExternalService as the controller leaves it: a
// DNSHijacked condition (when hijacked is not "") and status.addresses.
func externalService(name, dnsName string, created time.Time, hijacked metav1.ConditionStatus, addrs ...string) *egressv1.ExternalService {
	es := &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       egressv1.ExternalServiceSpec{DnsName: dnsName, HijackDns: true},
		Status:     egressv1.ExternalServiceStatus{Addresses: addrs},
	}
	if hijacked != "" {
		es.Status.Conditions = []metav1.Condition{{
			Type: egressv1.ConditionDNSHijacked, Status: hijacked, Reason: "Test", LastTransitionTime: metav1.NewTime(created),
		}}
	}
	return es
}

func gatewayPod(name string, phase corev1.PodPhase, ips ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DefaultGatewayNamespace}}
	p.Status.Phase = phase
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}

// testTable is the cluster every handler case runs against.
func testTable() *Table {
	return buildTable([]*egressv1.ExternalService{
		externalService("api", "api.example.org", epoch, metav1.ConditionTrue, "10.96.0.10", "10.96.0.11", "fd00::10"),
		externalService("v4only", "v4.example.org", epoch, metav1.ConditionTrue, "10.96.0.20"),
		externalService("v6only", "v6.example.org", epoch, metav1.ConditionTrue, "fd00::70"),
		externalService("noaddr", "noaddr.example.org", epoch, metav1.ConditionTrue),
		externalService("garbage", "garbage.example.org", epoch, metav1.ConditionTrue, "not-an-ip", "10.96.0.60", "10.96.0.60"),
		externalService("off", "off.example.org", epoch, metav1.ConditionFalse, "10.96.0.30"),
		externalService("nocond", "nocond.example.org", epoch, "", "10.96.0.31"),
		externalService("incluster", "foo.svc.cluster.local", epoch, metav1.ConditionTrue, "10.96.0.40"),
		// Two claimants: the older one wins even though its name sorts last.
		externalService("zz-old", "dup.example.org", epoch, metav1.ConditionTrue, "10.96.0.50"),
		externalService("aa-new", "dup.example.org", epoch.Add(time.Hour), metav1.ConditionTrue, "10.96.0.51"),
		// The oldest claimant is not hijacked: the name is not hijacked.
		externalService("first", "dup2.example.org", epoch, metav1.ConditionFalse, "10.96.0.52"),
		externalService("second", "dup2.example.org", epoch.Add(time.Hour), metav1.ConditionTrue, "10.96.0.53"),
		// Same creation time: the name decides.
		externalService("tie-b", "tie.example.org", epoch, metav1.ConditionTrue, "10.96.0.55"),
		externalService("tie-a", "tie.example.org", epoch, metav1.ConditionTrue, "10.96.0.54"),
	}, []*corev1.Pod{
		gatewayPod("api-gw-1", corev1.PodRunning, "10.244.1.5", "fd00:244::5"),
		gatewayPod("api-gw-old", corev1.PodSucceeded, "10.244.1.6"),
	}, DefaultZone)
}

// upstream stands for every plugin after egressoperator (cache, kubernetes,
// forward): it answers any name with the "real" records below, so a case can
// tell a passed-through query from a hijacked one.
var upstream = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	name := r.Question[0].Name
	switch r.Question[0].Qtype {
	case dns.TypeA:
		m.Answer = []dns.RR{test.A(name + " 300 IN A 192.0.2.1")}
	case dns.TypeAAAA:
		m.Answer = []dns.RR{test.AAAA(name + " 300 IN AAAA 2001:db8::1")}
	case dns.TypeHTTPS:
		m.Answer = []dns.RR{test.HTTPS(name + " 300 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1")}
	}
	_ = w.WriteMsg(m)
	return dns.RcodeSuccess, nil
})

type handlerCase struct {
	test.Case
	from  string // source IP; empty is a plain client (10.240.0.1)
	tcp   bool
	class uint16 // question class; 0 is IN
	// unwritten: the plugin returns Rcode without writing, and CoreDNS
	// writes the error reply.
	unwritten bool
}

// A hijacked name is answered with its gateway's addresses, whatever the
// case of the name, the trailing dot, or the address families asked for.
func TestServeDNSHijacked(t *testing.T) {
	serveCases(t, []handlerCase{
		// A: the gateway's IPv4 addresses, owner as asked, configured TTL.
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
		{Case: test.Case{Qname: "API.Example.ORG.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("API.Example.ORG. 5 IN A 10.96.0.10"), test.A("API.Example.ORG. 5 IN A 10.96.0.11")}}},
		// Without a trailing dot (as a plugin above may hand it over).
		{Case: test.Case{Qname: "api.example.org", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
		// AAAA: the IPv6 address, or NOERROR with no answer.
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeAAAA, Authoritative: true, Answer: []dns.RR{
			test.AAAA("api.example.org. 5 IN AAAA fd00::10")}}},
		{Case: test.Case{Qname: "v4.example.org.", Qtype: dns.TypeAAAA, Authoritative: true}},
		{Case: test.Case{Qname: "v6.example.org.", Qtype: dns.TypeA, Authoritative: true}},
		{Case: test.Case{Qname: "v6.example.org.", Qtype: dns.TypeAAAA, Authoritative: true, Answer: []dns.RR{
			test.AAAA("v6.example.org. 5 IN AAAA fd00::70")}}},
		// ANY: at most the A records.
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeANY, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
		{Case: test.Case{Qname: "v6.example.org.", Qtype: dns.TypeANY, Authoritative: true}},
	})
}

// Every type but A, AAAA and ANY gets no data for a hijacked name, and so
// does a class other than IN or ANY.
func TestServeDNSOtherTypes(t *testing.T) {
	serveCases(t, []handlerCase{
		// Every other type: NOERROR, no answer, nothing from upstream.
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeHTTPS, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeSVCB, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeCNAME, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeMX, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeTXT, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeSOA, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeNS, Authoritative: true}},
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeSRV, Authoritative: true}},
		// Class ANY is answered like IN; other classes get no data.
		{class: dns.ClassANY, Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
		{class: dns.ClassCHAOS, Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeTXT, Authoritative: true}},
	})
}

// Bad addresses are skipped; a hijacked name with none left fails.
func TestServeDNSBadAddresses(t *testing.T) {
	serveCases(t, []handlerCase{
		// Unparsable and repeated addresses are skipped.
		{Case: test.Case{Qname: "garbage.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("garbage.example.org. 5 IN A 10.96.0.60")}}},
		// A hijacked name without address: SERVFAIL for every type, never upstream.
		{unwritten: true, Case: test.Case{Qname: "noaddr.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure}},
		{unwritten: true, Case: test.Case{Qname: "noaddr.example.org.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeServerFailure}},
		{unwritten: true, Case: test.Case{Qname: "noaddr.example.org.", Qtype: dns.TypeHTTPS, Rcode: dns.RcodeServerFailure}},
	})
}

// Queries with EDNS0 or over TCP are hijacked as well.
func TestServeDNSTransport(t *testing.T) {
	serveCases(t, []handlerCase{
		// EDNS0: the reply carries the client's buffer size and DO bit.
		{Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeAAAA, Do: true, Authoritative: true,
			Answer: []dns.RR{test.AAAA("api.example.org. 5 IN AAAA fd00::10")},
			Extra:  []dns.RR{test.OPT(4096, true)}}},
		{tcp: true, Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
	})
}

// Names that are not hijacked get the next plugin's answer.
func TestServeDNSNotHijacked(t *testing.T) {
	serveCases(t, []handlerCase{
		// Not hijacked: upstream's answer.
		{Case: test.Case{Qname: "off.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("off.example.org. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "nocond.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("nocond.example.org. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "www.api.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("www.api.example.org. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("example.org. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "api.example.org.example.net.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("api.example.org.example.net. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "foo.svc.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("foo.svc.cluster.local. 300 IN A 192.0.2.1")}}},
	})
}

// Two claimants of one name: only the owner's status counts.
func TestServeDNSConflicts(t *testing.T) {
	serveCases(t, []handlerCase{
		// Conflicts follow the oldest claimant, as the controller does.
		{Case: test.Case{Qname: "dup.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{test.A("dup.example.org. 5 IN A 10.96.0.50")}}},
		{Case: test.Case{Qname: "dup2.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("dup2.example.org. 300 IN A 192.0.2.1")}}},
		{Case: test.Case{Qname: "tie.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{test.A("tie.example.org. 5 IN A 10.96.0.54")}}},
	})
}

// The gateway's own pods resolve the real host; every other address is
// a client.
func TestServeDNSGatewayPods(t *testing.T) {
	serveCases(t, []handlerCase{
		// A gateway pod gets the real answer, whatever the type or transport.
		{from: "10.244.1.5", Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("api.example.org. 300 IN A 192.0.2.1")}}},
		{from: "10.244.1.5", tcp: true, Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("api.example.org. 300 IN AAAA 2001:db8::1")}}},
		{from: "fd00:244::5", Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeHTTPS, Answer: []dns.RR{test.HTTPS("api.example.org. 300 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1")}}},
		{from: "10.244.1.5", Case: test.Case{Qname: "noaddr.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("noaddr.example.org. 300 IN A 192.0.2.1")}}},
		// A finished pod's IP, or any other, is a client like any other.
		{from: "10.244.1.6", Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
		{from: "10.244.1.7", Case: test.Case{Qname: "api.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A("api.example.org. 5 IN A 10.96.0.10"), test.A("api.example.org. 5 IN A 10.96.0.11")}}},
	})
}

// serveCases asks the hijacker, serving testTable, each case and checks
// the reply, and that the request was left as it was.
func serveCases(t *testing.T, cases []handlerCase) {
	t.Helper()
	e := &Hijacker{Next: upstream, source: &fakeSource{table: testTable(), synced: true}, ttl: DefaultTTL}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/from=%s/tcp=%t/class=%d", tc.Qname, dns.TypeToString[tc.Qtype], tc.from, tc.tcp, tc.class)
		t.Run(name, func(t *testing.T) {
			r := tc.Msg()
			r.Question[0].Name = tc.Qname // as given, trailing dot or not
			if tc.class != 0 {
				r.Question[0].Qclass = tc.class
			}
			before := r.Copy()
			rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: tc.from, TCP: tc.tcp})
			rcode, err := e.ServeDNS(context.Background(), rec, r)
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if r.String() != before.String() {
				t.Errorf("ServeDNS changed the request:\n%s\nwas\n%s", r, before)
			}
			if tc.unwritten {
				if rcode != tc.Rcode || rec.Msg != nil {
					t.Fatalf("got rcode %s and reply %v; want %s and no reply written (CoreDNS writes it)",
						dns.RcodeToString[rcode], rec.Msg, dns.RcodeToString[tc.Rcode])
				}
				return
			}
			if rec.Msg == nil {
				t.Fatalf("no reply written (rcode %s)", dns.RcodeToString[rcode])
			}
			if rec.Msg.Authoritative != tc.Authoritative {
				t.Errorf("authoritative = %t, want %t (true only for a hijacked answer)", rec.Msg.Authoritative, tc.Authoritative)
			}
			if err := test.SortAndCheck(rec.Msg, tc.Case); err != nil {
				t.Errorf("%v\nreply:\n%s", err, rec.Msg)
			}
		})
	}
}

func TestServeDNSMalformed(t *testing.T) {
	e := &Hijacker{Next: upstream, source: &fakeSource{table: testTable(), synced: true}, ttl: DefaultTTL}
	twoQuestions := new(dns.Msg).SetQuestion("api.example.org.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "v4.example.org.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	response := new(dns.Msg).SetQuestion("api.example.org.", dns.TypeA)
	response.Response = true
	for name, r := range map[string]*dns.Msg{
		"no question":       {MsgHdr: dns.MsgHdr{Id: 7, Opcode: dns.OpcodeQuery}},
		"two questions":     twoQuestions,
		"response as query": response,
	} {
		t.Run(name, func(t *testing.T) {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			rcode, err := e.ServeDNS(context.Background(), rec, r)
			if err != nil || rcode != dns.RcodeFormatError || rec.Msg != nil {
				t.Fatalf("got rcode %s, err %v, reply %v; want FORMERR for CoreDNS to write", dns.RcodeToString[rcode], err, rec.Msg)
			}
		})
	}
}

// Other opcodes (NOTIFY, UPDATE) are not queries: the plugin leaves them to
// the next plugin even for a hijacked name.
// Other opcodes (NOTIFY, UPDATE, ...) go to the next plugin, except for a
// hijacked name, which no later plugin may answer: REFUSED.
func TestServeDNSOtherOpcodes(t *testing.T) {
	var passed int
	next := test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		passed++
		return dns.RcodeNotImplemented, nil
	})
	e := &Hijacker{Next: next, source: &fakeSource{table: testTable(), synced: true}, ttl: DefaultTTL}
	for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate} {
		for name, want := range map[string]int{"api.example.org.": dns.RcodeRefused, "other.example.org.": dns.RcodeNotImplemented} {
			r := new(dns.Msg).SetQuestion(name, dns.TypeSOA)
			r.Opcode = op
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if rcode, _ := e.ServeDNS(context.Background(), rec, r); rcode != want || rec.Msg != nil {
				t.Errorf("opcode %s for %s: got rcode %s, reply %v; want %s", dns.OpcodeToString[op], name, dns.RcodeToString[rcode], rec.Msg, dns.RcodeToString[want])
			}
		}
	}
	if passed != 2 {
		t.Errorf("next plugin called %d times, want 2 (the unmanaged name's)", passed)
	}
}

// Before the first table exists every query passes through.
func TestServeDNSBeforeFirstTable(t *testing.T) {
	e := &Hijacker{Next: upstream, source: &fakeSource{}, ttl: DefaultTTL}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := e.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion("api.example.org.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if err := test.SortAndCheck(rec.Msg, test.Case{Qname: "api.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("api.example.org. 300 IN A 192.0.2.1")}}); err != nil {
		t.Error(err)
	}
	if e.Ready() {
		t.Error("Ready() = true before the source synced")
	}
	e.source.(*fakeSource).synced = true
	if !e.Ready() {
		t.Error("Ready() = false after the source synced")
	}
}

func TestServeDNSMetrics(t *testing.T) {
	e := &Hijacker{Next: upstream, source: &fakeSource{table: testTable(), synced: true}, ttl: DefaultTTL}
	hijacked := hijackedAnswers.WithLabelValues("", "v4only")
	gateway := gatewayAnswers.WithLabelValues("")
	h0, g0 := testutil.ToFloat64(hijacked), testutil.ToFloat64(gateway)

	ask := func(from string) {
		rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: from})
		if _, err := e.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion("v4.example.org.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	ask("10.240.0.1")
	ask("10.240.0.2")
	ask("10.244.1.5") // a gateway

	if got := testutil.ToFloat64(hijacked) - h0; got != 2 {
		t.Errorf("hijacked answers for v4only grew by %v, want 2", got)
	}
	if got := testutil.ToFloat64(gateway) - g0; got != 1 {
		t.Errorf("gateway answers grew by %v, want 1", got)
	}
}
