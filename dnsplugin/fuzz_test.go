package dnsplugin

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Upstream data no hijacked answer may ever carry.
const (
	leakA    = "192.0.2.99"
	leakAAAA = "2001:db8::99"
)

// leakyUpstream stands for every plugin after egressoperator and answers any
// question with upstream records in every section.
var leakyUpstream = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	name := "upstream.invalid."
	if len(r.Question) > 0 {
		name = dns.Fqdn(r.Question[0].Name)
	}
	a := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(leakA)}
	aaaa := &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: net.ParseIP(leakAAAA)}
	m.Answer, m.Ns, m.Extra = []dns.RR{a, aaaa}, []dns.RR{a}, append(m.Extra, aaaa)
	_ = w.WriteMsg(m)
	return dns.RcodeSuccess, nil
})

// fuzzHijacker answers from a table of three hijacked names, one without an
// address, for a client that is no gateway.
func fuzzHijacker() *Hijacker {
	hijacked := func(name, dnsName string, addrs ...string) *egressv1.ExternalService {
		return &egressv1.ExternalService{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
			Spec:       egressv1.ExternalServiceSpec{DnsName: dnsName, HijackDns: true},
			Status: egressv1.ExternalServiceStatus{Addresses: addrs, Conditions: []metav1.Condition{
				{Type: egressv1.ConditionDNSHijacked, Status: metav1.ConditionTrue, Reason: egressv1.ReasonHijacked},
			}},
		}
	}
	table := buildTable([]*egressv1.ExternalService{
		hijacked("api", "api.example.org", "10.96.0.10", "fd00::10"),
		hijacked("v4", "v4.example.org", "10.96.0.20"),
		hijacked("none", "noaddr.example.org"),
	}, nil, DefaultZone)
	return &Hijacker{Next: leakyUpstream, source: &fakeSource{table: table, synced: true}, ttl: DefaultTTL}
}

// FuzzServeDNS sends arbitrary wire messages to the handler. Messages that do
// not unpack never reach a plugin: CoreDNS's server (miekg/dns) drops them,
// or answers FORMERR when the header could be read. For the rest: no panic,
// and an answer to a question for a hijacked name (any type, class, EDNS
// option or letter case) never carries an upstream record.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"api.example.org.", dns.TypeA}, {"API.Example.ORG.", dns.TypeAAAA}, {"api.example.org.", dns.TypeANY},
		{"v4.example.org.", dns.TypeHTTPS}, {"noaddr.example.org.", dns.TypeA}, {"elsewhere.example.org.", dns.TypeA},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, true)
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	h := fuzzHijacker()
	f.Fuzz(func(t *testing.T, wire []byte) {
		r := new(dns.Msg)
		if err := r.Unpack(wire); err != nil {
			return
		}
		hijacked := len(r.Question) == 1 && h.source.Table().lookup(r.Question[0].Name) != nil
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := h.ServeDNS(context.Background(), rec, r); err != nil {
			t.Fatalf("ServeDNS returned an error: %v", err)
		}
		if !hijacked || rec.Msg == nil {
			return
		}
		for _, section := range [][]dns.RR{rec.Msg.Answer, rec.Msg.Ns, rec.Msg.Extra} {
			for _, rr := range section {
				if s := rr.String(); strings.Contains(s, leakA) || strings.Contains(s, leakAAAA) {
					t.Fatalf("the answer for hijacked %s carries upstream data: %s", r.Question[0].String(), s)
				}
			}
		}
	})
}

// FuzzParse feeds arbitrary text after the egressoperator directive to the
// Corefile parser: it either accepts it or returns an error that says
// where (Corefile and line) and names what was wrong, and never panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "egress-operator-system cluster.local", "ns zone.local extra",
		"{\n kubeconfig /k ctx\n ttl 5\n}", "{\n ttl -1\n}", "{\n ttl\n}", "{\n bogus 1\n}", "Not_A_Namespace",
		"ns \"\"", "ns {", "ns }\n}", "{\n kubeconfig\n}",
		"{\n observe\n}", "{\n observe {\n listen :9154\n max_entries 10\n search_suffixes ec2.internal\n }\n}",
		"{\n observe { max_entries 10000  listen :9154 }\n}", "{\n observe {\n max_entries -1\n }\n}", "{\n observe {\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, args string) {
		c := caddy.NewTestController("dns", "egressoperator "+args)
		cfg, err := parse(c)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, "Testfile:") {
				t.Fatalf("error %q does not say where in the Corefile", msg)
			}
			return
		}
		if o := cfg.observe; o != nil && (o.maxEntries < 1 || o.maxEntries > maxMaxEntries || o.listen == "" || o.eventInterval < time.Second) {
			t.Fatalf("accepted %q as observe config %+v", args, *o)
		}
		if cfg.namespace == "" || cfg.zone == "" || cfg.ttl > 3600 {
			t.Fatalf("accepted %q as %+v", args, *cfg)
		}
	})
}
